"""A fast yes-or-don't-know check of a configuration against the committed JSON Schema.

Most configurations are valid, and proving that with jsonschema costs its import (~50 ms of
every `validate`) and about a third of validating a large workspace. `compile_schema` turns
the (references inlined) schema into nested closures that answer one question: does the
instance certainly conform? `True` means jsonschema would report no error; `False` means "not
proven" — the caller then runs jsonschema, whose errors stay the only source of diagnostics.

The checker is deliberately conservative: a keyword it does not know, a value type it does not
map one-to-one to a JSON type (a YAML date, bytes), or an enum/const comparison between types
jsonschema would compare loosely (1 vs 1.0) all answer `False`. tests/test_quickschema.py
checks it against jsonschema on the invalid-config corpus, the examples and random mutations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never affect validity.
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated",
    "readOnly", "writeOnly",
})


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


def _is_type(name: str) -> Check | None:
    """JSON Schema's type test, restricted to the Python types a YAML/JSON load produces."""
    if name == "object":
        return lambda v: type(v) is dict
    if name == "array":
        return lambda v: type(v) is list
    if name == "string":
        return lambda v: type(v) is str
    if name == "boolean":
        return lambda v: type(v) is bool
    if name == "null":
        return lambda v: v is None
    if name == "integer":
        return lambda v: type(v) is int or (type(v) is float and v.is_integer())
    if name == "number":
        return lambda v: type(v) is int or type(v) is float
    return None


def _strict_equal(a: Any, b: Any) -> bool:
    """Equality that is never looser than jsonschema's (a mismatch only costs a fallback)."""
    return type(a) is type(b) and a == b and type(a) in (str, int, float, bool, type(None))


def compile_schema(schema: Any) -> Check:
    """A function answering "certainly valid?" for `schema`; unknown keywords make it
    answer False for every instance, so jsonschema decides."""
    if schema is True or schema == {}:
        return _always
    if schema is False or not isinstance(schema, dict):
        return _never
    checks: list[Check] = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        check = _keyword(keyword, value, schema)
        if check is None:
            return _never
        checks.append(check)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


def _keyword(keyword: str, value: Any, schema: dict[str, Any]) -> Check | None:
    if keyword == "type":
        names = value if isinstance(value, list) else [value]
        tests = [_is_type(n) for n in names]
        if any(t is None for t in tests):
            return None
        known = [t for t in tests if t is not None]
        return known[0] if len(known) == 1 else (lambda v: any(t(v) for t in known))
    if keyword == "properties":
        props = {name: compile_schema(sub) for name, sub in value.items()}

        def properties(v: Any) -> bool:
            if type(v) is not dict:
                return True
            return all(check(v[name]) for name, check in props.items() if name in v)
        return properties
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            return None
        declared = frozenset(schema.get("properties", {}))
        extra = compile_schema(value)

        def additional(v: Any) -> bool:
            if type(v) is not dict:
                return True
            return all(extra(item) for key, item in v.items() if key not in declared)
        return additional
    if keyword == "propertyNames":
        name_check = compile_schema(value)
        return lambda v: type(v) is not dict or all(name_check(k) for k in v)
    if keyword == "required":
        needed = tuple(value)
        return lambda v: type(v) is not dict or all(n in v for n in needed)
    if keyword == "items":
        if not isinstance(value, dict):
            return None
        item = compile_schema(value)
        return lambda v: type(v) is not list or all(item(x) for x in v)
    if keyword in ("minItems", "maxItems", "minLength", "maxLength", "minProperties",
                   "maxProperties"):
        kind = {"I": list, "L": str, "P": dict}[keyword[3]]
        bound = value
        low = keyword.startswith("min")
        return lambda v: type(v) is not kind or (len(v) >= bound if low else len(v) <= bound)
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        limit = value
        test: Callable[[Any], bool] = {
            "minimum": lambda v: v >= limit,
            "maximum": lambda v: v <= limit,
            "exclusiveMinimum": lambda v: v > limit,
            "exclusiveMaximum": lambda v: v < limit,
        }[keyword]
        return lambda v: not (type(v) is int or type(v) is float) or test(v)
    if keyword == "pattern":
        regex = re.compile(value)
        return lambda v: type(v) is not str or regex.search(v) is not None
    if keyword == "enum":
        options = list(value)
        return lambda v: any(_strict_equal(v, o) for o in options)
    if keyword == "const":
        return lambda v: _strict_equal(v, value)
    if keyword in ("anyOf", "oneOf"):
        subs = [compile_schema(s) for s in value]
        if keyword == "anyOf":
            return lambda v: any(s(v) for s in subs)
        # oneOf needs "exactly one": a second match cannot be proven absent by a checker
        # that answers "don't know", so only a single branch is decided here.
        return subs[0] if len(subs) == 1 else None
    if keyword == "allOf":
        subs = [compile_schema(s) for s in value]
        return lambda v: all(s(v) for s in subs)
    return None
