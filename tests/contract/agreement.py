"""Does a schema (the emulator's) agree with the contract on everything the SDK proves?

`disagreements(contract, other)` lists every difference the real server would show:

- every contract type exists in `other` with the same kind; enums have the same values, unions
  the same members, input types the same fields (an extra input field would accept what the
  server rejects), object types at least the contract's fields and no others;
- a field's type: same list shape and nullability and the same named type — except where the
  contract does not prove it: `@shapeUnknown` (only the named type of an object or union field
  must match) and placeholder scalars (`StrScalar` ... : any scalar the SDK would read as that
  Python type);
- arguments: the same names and exact types; a default exactly where the contract has one
  (value compared unless `@defaultUnknown`): no argument default the real server lacks;
- input fields: same types, same required-ness, same defaults.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from graphql.pyutils import Undefined

BUILTIN = {"String": "str", "ID": "str", "Int": "int", "Float": "float", "Boolean": "bool"}
# Placeholder scalar → the Python type ariadne-codegen reads it as.
PLACEHOLDERS = {"StrScalar": "str", "IntScalar": "int", "FloatScalar": "float",
                "BoolScalar": "bool", "AnyScalar": "Any", "IntOrStrScalar": "int | str"}
# Custom scalars whose Python reading the SDK proves (typed arguments of its generated client).
PROVEN_CUSTOM = {"IdOrKey": "str", "UUID": "Any", "InputDatetime": "int | str", "JSON": "Any"}


def _kind(t: GraphQLNamedType) -> str:
    return type(t).__name__


def _has_directive(thing: Any, name: str) -> bool:
    node = getattr(thing, "ast_node", None)
    return bool(node) and any(d.name.value == name for d in node.directives or ())


def _scalar_ok(contract_name: str, other_name: str) -> bool:
    if contract_name == other_name:
        return True
    python = PLACEHOLDERS.get(contract_name)
    if python is None:
        return False
    if other_name in BUILTIN:
        return BUILTIN[other_name] == python
    if other_name in PROVEN_CUSTOM:
        return PROVEN_CUSTOM[other_name] == python
    return other_name not in PLACEHOLDERS   # an unproven custom scalar may be read as anything


def _type_ok(contract_type: Any, other_type: Any) -> bool:
    if isinstance(contract_type, GraphQLNonNull) or isinstance(other_type, GraphQLNonNull):
        return (isinstance(contract_type, GraphQLNonNull) and isinstance(other_type, GraphQLNonNull)
                and _type_ok(contract_type.of_type, other_type.of_type))
    if isinstance(contract_type, GraphQLList) or isinstance(other_type, GraphQLList):
        return (isinstance(contract_type, GraphQLList) and isinstance(other_type, GraphQLList)
                and _type_ok(contract_type.of_type, other_type.of_type))
    if isinstance(contract_type, GraphQLScalarType) and isinstance(other_type, GraphQLScalarType):
        return _scalar_ok(contract_type.name, other_type.name)
    return bool(contract_type.name == other_type.name)


def _args(where: str, contract: dict[str, GraphQLArgument],
          other: dict[str, GraphQLArgument]) -> list[str]:
    out = []
    for name in sorted(set(contract) | set(other)):
        if name not in other:
            out.append(f"{where}: argument {name} is missing")
            continue
        if name not in contract:
            out.append(f"{where}: argument {name} is not in the contract")
            continue
        c, o = contract[name], other[name]
        if str(c.type) != str(o.type):
            out.append(f"{where}({name}): type {o.type}, the contract proves {c.type}")
        if c.default_value is Undefined and o.default_value is not Undefined:
            out.append(f"{where}({name}): has a default the real server does not have")
        elif c.default_value is not Undefined and o.default_value is Undefined:
            out.append(f"{where}({name}): has no default; the real server has one")
        elif (c.default_value is not Undefined and not _has_directive(c, "defaultUnknown")
              and c.default_value != o.default_value):
            out.append(f"{where}({name}): default {o.default_value!r}, the contract proves "
                       f"{c.default_value!r}")
    return out


def _input_fields(where: str, contract: dict[str, GraphQLInputField],
                  other: dict[str, GraphQLInputField]) -> list[str]:
    out = []
    for name in sorted(set(contract) | set(other)):
        if name not in other:
            out.append(f"{where}.{name} is missing")
        elif name not in contract:
            out.append(f"{where}.{name} is not in the contract (the real server rejects it)")
        else:
            c, o = contract[name], other[name]
            if not _type_ok(c.type, o.type):
                out.append(f"{where}.{name}: type {o.type}, the contract proves {c.type}")
            if c.default_value != o.default_value:
                out.append(f"{where}.{name}: default {o.default_value!r}, the contract proves "
                           f"{c.default_value!r}")
    return out


def disagreements(contract: GraphQLSchema, other: GraphQLSchema) -> list[str]:
    """Every way `other` differs from the contract on what the SDK proves."""
    out: list[str] = []
    for name, ctype in sorted(contract.type_map.items()):
        if name.startswith("__"):
            continue
        otype = other.type_map.get(name)
        if otype is None:
            if isinstance(ctype, GraphQLScalarType) and name in BUILTIN:
                continue
            out.append(f"type {name} is missing")
            continue
        if _kind(ctype) != _kind(otype):
            out.append(f"{name} is a {_kind(otype)}, the contract proves a {_kind(ctype)}")
            continue
        if isinstance(ctype, GraphQLEnumType):
            assert isinstance(otype, GraphQLEnumType)
            if set(ctype.values) != set(otype.values):
                out.append(f"enum {name}: values {sorted(otype.values)}, the contract proves "
                           f"{sorted(ctype.values)}")
        elif isinstance(ctype, GraphQLUnionType):
            assert isinstance(otype, GraphQLUnionType)
            if {t.name for t in ctype.types} != {t.name for t in otype.types}:
                out.append(f"union {name}: members differ from the contract's")
        elif isinstance(ctype, GraphQLInputObjectType):
            assert isinstance(otype, GraphQLInputObjectType)
            out += _input_fields(name, ctype.fields, otype.fields)
        elif isinstance(ctype, (GraphQLObjectType, GraphQLInterfaceType)):
            assert isinstance(otype, (GraphQLObjectType, GraphQLInterfaceType))
            for fname in sorted(set(otype.fields) - set(ctype.fields)):
                out.append(f"{name}.{fname} is not in the contract")
            for fname, cfield in ctype.fields.items():
                ofield = otype.fields.get(fname)
                where = f"{name}.{fname}"
                if ofield is None:
                    out.append(f"{where} is missing")
                    continue
                out += _args(where, cfield.args, ofield.args)
                if _has_directive(cfield, "shapeUnknown"):
                    cnamed = get_named_type(cfield.type)
                    if cnamed.name != "Unknown" \
                            and cnamed.name != get_named_type(ofield.type).name:
                        out.append(f"{where}: named type {get_named_type(ofield.type)}, the "
                                   f"contract proves {cnamed.name}")
                elif not _type_ok(cfield.type, ofield.type):
                    out.append(f"{where}: type {ofield.type}, the contract proves {cfield.type}")
    return out


def extra_types(contract: GraphQLSchema, other: GraphQLSchema) -> set[str]:
    """Types of `other` the contract does not have (emulator-only)."""
    return {n for n in other.type_map if not n.startswith("__")
            and n not in contract.type_map and n not in BUILTIN}
