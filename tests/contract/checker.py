"""The API contract derived from the official SDK, and the check of one request against it.

`contract_schema()` builds `contract/adaptive-sdk-<version>.graphql` (tools/derive_contract.py
writes it) with strict input coercion for its scalars: a scalar whose GraphQL name the SDK does
not prove (`StrScalar`, `IntScalar`, ...) accepts exactly what the SDK itself would send for it.

`check_request(schema, body)` reports every way a GraphQL request body breaks the contract: the
document does not validate, a variable does not coerce (unknown input field, missing required
field, wrong scalar), or an argument receives an explicit null where the contract says non-null
(a server default applies only when the variable is left out).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_operation_ast,
    parse,
    validate,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values

ROOT = Path(__file__).resolve().parents[2]
# The one committed contract names the SDK version it comes from.
[CONTRACT_SDL] = sorted((ROOT / "contract").glob("adaptive-sdk-*.graphql"))
SDK_VERSION = CONTRACT_SDL.name.removeprefix("adaptive-sdk-").removesuffix(".graphql")
CONTRACT_DIR = ROOT / "contract" / f"adaptive-sdk-{SDK_VERSION}"
SDK_DOCUMENTS = CONTRACT_DIR / "documents"
OPERATIONS = CONTRACT_DIR / "operations.json"
CLIENT_USER_AGENT = "adaptive-deploy/"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _uuid(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


# What the SDK sends for each scalar (its pydantic input annotation), as a coercion check.
_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "StrScalar": lambda v: isinstance(v, str),
    "IntScalar": _is_int,
    "FloatScalar": lambda v: _is_int(v) or isinstance(v, float),
    "BoolScalar": lambda v: isinstance(v, bool),
    "IntOrStrScalar": lambda v: _is_int(v) or isinstance(v, str),
    "IdOrKey": lambda v: isinstance(v, str),
    "UUID": _uuid,
}


def _strict(scalar: GraphQLScalarType, accepts: Callable[[Any], bool]) -> None:
    def parse_value(value: Any) -> Any:
        if not accepts(value):
            raise GraphQLError(f"{scalar.name} cannot represent {json.dumps(value)}")
        return value

    scalar.parse_value = parse_value  # type: ignore[method-assign]


@functools.cache
def contract_schema(sdl_path: Path = CONTRACT_SDL) -> GraphQLSchema:
    """The contract as a graphql-core schema, with strict scalar input coercion."""
    schema = build_schema(sdl_path.read_text(encoding="utf-8"))
    for name, accepts in _ACCEPTS.items():
        scalar = schema.get_type(name)
        if isinstance(scalar, GraphQLScalarType):
            _strict(scalar, accepts)
    return schema


def sdk_operations() -> dict[str, Any]:
    """operations.json: SDK operation name → {kind, root_fields, area, variables}."""
    data: dict[str, Any] = json.loads(OPERATIONS.read_text(encoding="utf-8"))
    return data


def sdk_document(name: str) -> str:
    return (SDK_DOCUMENTS / f"{name}.graphql").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=512)
def _parsed(schema: GraphQLSchema, query: str) -> tuple[DocumentNode | None, tuple[str, ...]]:
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (f"syntax: {exc.message}",)
    return document, tuple(e.message for e in validate(schema, document))


def check_request(schema: GraphQLSchema, body: Mapping[str, Any]) -> list[str]:
    """Every contract violation of one request body (`query`, `operationName`, `variables`)."""
    query = body.get("query")
    if not isinstance(query, str):
        return ["the body has no query string"]
    document, errors = _parsed(schema, query)
    if document is None or errors:
        return list(errors)
    name = body.get("operationName")
    operation = get_operation_ast(document, name if isinstance(name, str) else None)
    if operation is None:
        return [f"no operation {name!r} in the document"]
    raw = body.get("variables")
    variables = raw if isinstance(raw, dict) else {}
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        return [e.message for e in coerced]
    return _argument_problems(schema, document, operation, coerced)


def _argument_problems(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
    coerced: dict[str, Any],
) -> list[str]:
    """Coerce every field's arguments as execution would (null into non-null, missing)."""
    type_info = TypeInfo(schema)
    problems: list[str] = []

    class Arguments(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            field_def = type_info.get_field_def()
            if field_def is None or not node.arguments:
                return
            try:
                get_argument_values(field_def, node, coerced)
            except GraphQLError as exc:
                problems.append(exc.message)

    used = {operation}
    used |= {d for d in document.definitions if not isinstance(d, OperationDefinitionNode)}
    for definition in used:
        visit(definition, TypeInfoVisitor(type_info, Arguments()))
    return problems


@dataclass
class RecordedCheck:
    """The result of checking recorded requests."""

    checked: int = 0
    distinct: int = 0
    problems: list[str] = field(default_factory=list)


def read_recorded(path: Path) -> list[dict[str, Any]]:
    """The request records an emulator appended to `path` (one JSON object per line)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue   # a line cut short by a process killed on purpose (crash tests)
    return records


def check_recorded(
    records: Iterable[Mapping[str, Any]], schema: GraphQLSchema | None = None,
    user_agent: str = CLIENT_USER_AGENT,
) -> RecordedCheck:
    """Check every recorded request the client sent (by its User-Agent) against the contract."""
    schema = schema or contract_schema()
    result = RecordedCheck()
    seen: set[str] = set()
    for record in records:
        if not str(record.get("userAgent") or "").startswith(user_agent):
            continue
        result.checked += 1
        body = record.get("body") or {}
        key = json.dumps(body, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        for problem in check_request(schema, body):
            op = body.get("operationName") if isinstance(body, dict) else None
            variables = json.dumps(body.get("variables"), sort_keys=True)[:300] \
                if isinstance(body, dict) else ""
            result.problems.append(f"{op}: {problem} (variables: {variables})")
    result.distinct = len(seen)
    return result
