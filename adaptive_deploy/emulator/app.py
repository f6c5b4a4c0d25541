"""The reference platform as an ASGI application (no web framework: a plain ASGI callable).

Routes:
    POST /api/graphql          GraphQL (schema.graphql), `Authorization: Bearer <key>`
    GET  /_emulator/health     readiness probe, no auth
    GET  /_emulator/stats      request counts by outcome and operation (admin key)
    POST /_emulator/stats/reset
    GET  /_emulator/faults     current fault settings (admin key)
    POST /_emulator/faults     JSON object of `FaultConfig` fields, merged into the current ones

Limits (any key may send a query): a body nested deeper than 64 levels or not a JSON object is
a 400, one over 10 MB a 413; a query over 100 KB, 10,000 tokens, 12 levels, 1,000 fields or 20
root fields gets a GraphQL error (QUERY_TOO_LARGE / QUERY_TOO_COMPLEX) and is never executed.

Auth: with `api_keys` (key → role), a missing or unknown key gets HTTP 401 with a JSON body;
only the `admin` role may run mutations (others get a GraphQL error with extensions.code
FORBIDDEN). With `api_keys=None` auth is off and every caller is admin (the embedded platform).

Recording (a test aid): with `record_requests` — or the environment variable
ADAPTIVE_DEPLOY_RECORD_REQUESTS, so that every emulator a test session starts, served or
embedded, records — each GraphQL request body is appended to that file as one JSON line with the
caller's User-Agent, for checking against the API contract. Bodies hold job args as sent, so
point it only at a test's own files.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionContext,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    build_schema,
    execute_sync,
    get_argument_values,
    parse,
    validate,
)

from adaptive_deploy.emulator.core import Emulator, EmulatorError, Timing
from adaptive_deploy.emulator.faults import Decision, FaultConfig, FaultInjector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROLES = ("admin", "read-only", "inference", "annotator")
RECORD_ENV = "ADAPTIVE_DEPLOY_RECORD_REQUESTS"
_MAX_BODY = 10 * 1024 * 1024

# What one request may ask of the emulator. Any key can send a query, a read-only one
# included, so parsing, validating and executing it must stay bounded. The documents real
# clients send (the official SDK's, this tool's ReadLive) are a few KB, under 1,000 tokens,
# 7 levels deep, with a few root fields and well under 200 fields.
MAX_QUERY_BYTES = 100_000
MAX_QUERY_TOKENS = 10_000
MAX_QUERY_DEPTH = 12
MAX_QUERY_FIELDS = 1_000         # selected fields, fragments expanded
MAX_ROOT_FIELDS = 20             # aliases count: each root field is a full read
MAX_JSON_DEPTH = 64              # nesting of the request body (variables)
# The parsed-document cache is bounded by the size of the queries it holds, not only their
# number (512 distinct large queries once grew it to 6.8 GB): a parsed and validated document
# takes about 130 times its text, so 256 KB of text is ~35 MB. Larger documents are parsed for
# each request and never kept.
_CACHE_MAX_ENTRIES = 256
_CACHE_MAX_BYTES = 256 * 1024
_CACHE_MAX_QUERY_BYTES = 8 * 1024


class DroppedResponse(ConnectionResetError):
    """Raised after a committed mutation to make the server reset the connection."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return isinstance(value, str)


# The values each scalar of schema.graphql accepts, in and out. The contract keeps placeholder
# names (StrScalar, ...) where the SDK does not prove the real scalar: they hold what the SDK
# reads them as. `Unknown` (a field whose type the SDK does not prove) holds any JSON value.
SCALARS: dict[str, Callable[[Any], bool]] = {
    "StrScalar": lambda v: isinstance(v, str),
    "IntScalar": _is_int,
    "FloatScalar": lambda v: _is_int(v) or isinstance(v, float),
    "BoolScalar": lambda v: isinstance(v, bool),
    "IntOrStrScalar": lambda v: _is_int(v) or isinstance(v, str),
    "IdOrKey": lambda v: isinstance(v, str) and v != "",
    "UUID": _is_uuid,
}


def _strict(scalar: GraphQLScalarType, accepts: Callable[[Any], bool]) -> None:
    def parse_value(value: Any) -> Any:
        if not accepts(value):
            raise GraphQLError(f"{scalar.name} cannot represent {json.dumps(value)}")
        return value

    def serialize(value: Any) -> Any:
        if not accepts(value):   # an emulator bug, reported as an internal error
            raise TypeError(f"{scalar.name} cannot represent {value!r}")
        return value

    scalar.serialize = serialize  # type: ignore[method-assign]
    scalar.parse_value = parse_value  # type: ignore[method-assign]


@lru_cache(maxsize=1)
def load_schema() -> GraphQLSchema:
    """The emulator's GraphQL schema, built from schema.graphql (generated from the contract)."""
    sdl = (resources.files("adaptive_deploy.emulator") / "schema.graphql").read_text("utf-8")
    schema = build_schema(sdl)
    for name, accepts in SCALARS.items():
        scalar = schema.get_type(name)
        if isinstance(scalar, GraphQLScalarType):
            _strict(scalar, accepts)
    return schema


class _LeafFastPath(ExecutionContext):
    """graphql-core's execution with a shortcut for the bulk of a large answer: a scalar or
    enum field read from a record dict (no arguments, no resolver, a plain value). Such a field
    is what `default_field_resolver` + `complete_leaf_value` would make of it — `source[name]`
    serialized by its type — without building a resolve info and walking `complete_value` for
    each of the ~100,000 fields of a 10k-deployment ReadLive. Anything else (lists, objects,
    callables, nulls, a value the type refuses) takes the ordinary path, errors included."""

    def execute_field(
        self, parent_type: GraphQLObjectType, source: Any, field_nodes: list[FieldNode],
        path: Any,
    ) -> Any:
        node = field_nodes[0]
        if type(source) is dict and not node.arguments and node.selection_set is None:
            field_def = parent_type.fields.get(node.name.value)
            if field_def is not None and field_def.resolve is None:
                value = source.get(node.name.value)
                if value is not None and not callable(value):
                    named = field_def.type
                    if isinstance(named, GraphQLNonNull):
                        named = named.of_type
                    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
                        try:
                            serialized = named.serialize(value)
                        except Exception:
                            serialized = None
                        if serialized is not None and serialized is not Undefined:
                            return serialized
        return super().execute_field(parent_type, source, field_nodes, path)

    def complete_value(
        self, return_type: Any, field_nodes: list[FieldNode], info: Any, path: Any,
        result: Any,
    ) -> Any:
        """A whole subtree of record data (dicts, lists, scalars and enums under object types
        without resolvers, and the records' own callables resolved as graphql-core's default
        resolver calls them) completed in one recursive pass, with the selections graphql-core
        itself collects (fragments, @skip/@include). Anything else, and any value that would
        be an error (a null in a non-null field, a value a scalar refuses, a callable that
        raises), sends the subtree back to graphql-core, which answers it — and its errors —
        as usual."""
        try:
            return self._plain(return_type, field_nodes, result, path)
        except _NotPlain:
            return super().complete_value(return_type, field_nodes, info, path, result)

    def _plain(self, return_type: Any, field_nodes: list[FieldNode], value: Any,
               path: Any) -> Any:
        if isinstance(return_type, GraphQLNonNull):
            if value is None:
                raise _NotPlain
            return self._plain(return_type.of_type, field_nodes, value, path)
        if value is None:
            return None
        if isinstance(value, Exception):
            raise _NotPlain
        if isinstance(return_type, GraphQLList):
            if type(value) not in (list, tuple):
                raise _NotPlain
            item_type = return_type.of_type
            return [self._plain(item_type, field_nodes, item, path.add_key(i, None))
                    for i, item in enumerate(value)]
        if isinstance(return_type, GraphQLScalarType | GraphQLEnumType):
            try:
                serialized = return_type.serialize(value)
            except Exception:
                raise _NotPlain from None
            if serialized is None or serialized is Undefined:
                raise _NotPlain
            return serialized
        if (not isinstance(return_type, GraphQLObjectType) or type(value) is not dict
                or return_type.is_type_of is not None):
            raise _NotPlain
        out: dict[str, Any] = {}
        for key, nodes in self.collect_subfields(return_type, field_nodes).items():
            name = nodes[0].name.value
            if name == "__typename":
                out[key] = return_type.name
                continue
            field_def = return_type.fields.get(name)
            if field_def is None or field_def.resolve is not None:
                raise _NotPlain
            field_path = path.add_key(key, return_type.name)
            field_value = value.get(name)
            if callable(field_value):   # graphql-core's default resolver calls it so
                try:
                    args = get_argument_values(field_def, nodes[0], self.variable_values)
                    field_info = self.build_resolve_info(field_def, nodes, return_type,
                                                         field_path)
                    field_value = field_value(field_info, **args)
                except Exception:
                    raise _NotPlain from None
            out[key] = self._plain(field_def.type, nodes, field_value, field_path)
        return out


class _NotPlain(Exception):
    """A subtree `_LeafFastPath._plain` leaves to graphql-core."""


def _root(emu: Emulator) -> dict[str, Any]:
    """Root resolvers for Query and Mutation; graphql-core calls them as (info, **args)."""
    def caller(info: Any) -> tuple[str, str]:
        ctx: dict[str, str] = info.context
        return ctx["user"], ctx["role"]

    return {
        # queries
        "models": lambda info, filter=None: emu.models(filter),
        "model": lambda info, idOrKey: emu.model(idOrKey),
        "computePools": lambda info: emu.compute_pools(),
        "harmonyGroups": lambda info: emu.harmony_groups(),
        "projects": lambda info, filter=None: emu.projects(filter),
        "project": lambda info, idOrKey: emu.project(idOrKey),
        "jobs": lambda info, page=None, filter=None, order=None: emu.jobs(page, filter),
        "job": lambda info, id: emu.job(id),
        "me": lambda info: emu.user(*caller(info)),
        "roles": lambda info: emu.roles(),
        "permissions": lambda info: emu.permissions(),
        # mutations
        "updateModelComputeConfig":
            lambda info, idOrKey, input: emu.update_model_compute_config(idOrKey, input),
        "addModelsToProject":
            lambda info, input: emu.add_models_to_project(input["project"], input["models"]),
        "removeModelFromProject":
            lambda info, input: emu.remove_model_from_project(input["project"], input["model"]),
        "deployModel": lambda info, input: emu.deploy_model(
            input["project"], input["model"], input.get("placement"),
            input.get("speculativeDecoding")),
        "updateModelService": lambda info, input: emu.update_model_service(input),
        "terminateModel": lambda info, idOrKey, force: emu.terminate_model(idOrKey, force),
        "createProject": lambda info, input: emu.create_project(input),
        "updateProject": lambda info, idOrKey, input: emu.update_project(idOrKey, input),
        "createJob": lambda info, input: emu.create_job(input),
        "cancelJob": lambda info, id: emu.cancel_job(id),
        "updateJob": lambda info, id, input: emu.update_job(id, input),
        "deleteJob": lambda info, id: emu.delete_job(id),
        "resizeInferencePartition":
            lambda info, input: emu.resize_inference_partition(input["computePool"],
                                                               int(input["size"])),
    }


def _format_error(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    out: dict[str, Any] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    if isinstance(original, EmulatorError):
        out["extensions"] = {"code": original.code}
    elif isinstance(original, GraphQLError):
        # Argument coercion at execution, e.g. an explicit null into a non-null argument.
        out["message"] = original.message
        out["extensions"] = {"code": "BAD_USER_INPUT"}
    elif original is not None:
        # A bug in the emulator: say so without leaking internals.
        out["message"] = f"Internal error: {type(original).__name__}"
        out["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
    else:
        code = (error.extensions or {}).get("code") or "GRAPHQL_VALIDATION_FAILED"
        out["extensions"] = {"code": code}
    return out


def _limit_error(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def query_complexity_problem(document: DocumentNode) -> str | None:
    """Why `document` asks too much (depth, fields, root fields), or None.

    Fragments are expanded with memoised costs, so a chain of fragments that each spread the
    next one twice is counted, not expanded; a fragment cycle counts as empty (validation
    reports it)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, tuple[int, int]] = {}
    visiting: set[str] = set()
    limit = MAX_QUERY_FIELDS + 1

    def cost(selection_set: SelectionSetNode | None) -> tuple[int, int]:
        """(fields, depth) of a selection set, capped just above the limits."""
        if selection_set is None:
            return 0, 0
        fields = depth = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                sub_fields, sub_depth = cost(sel.selection_set)
                fields += 1 + sub_fields
                depth = max(depth, 1 + sub_depth)
            elif isinstance(sel, InlineFragmentNode):
                sub_fields, sub_depth = cost(sel.selection_set)
                fields += sub_fields
                depth = max(depth, sub_depth)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name not in memo:
                    fragment = fragments.get(name)
                    if fragment is None or name in visiting:
                        continue
                    visiting.add(name)
                    memo[name] = cost(fragment.selection_set)
                    visiting.discard(name)
                sub_fields, sub_depth = memo[name]
                fields += sub_fields
                depth = max(depth, sub_depth)
            fields = min(fields, limit)
            if depth > MAX_QUERY_DEPTH:
                return fields, depth
        return fields, depth

    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        roots = len(definition.selection_set.selections)
        if roots > MAX_ROOT_FIELDS:
            return f"Query too complex: {roots} root fields; the limit is {MAX_ROOT_FIELDS}"
        try:
            fields, depth = cost(definition.selection_set)
        except RecursionError:
            return "Query too complex: nested too deeply"
        if depth > MAX_QUERY_DEPTH:
            return f"Query too complex: nested deeper than {MAX_QUERY_DEPTH} levels"
        if fields > MAX_QUERY_FIELDS:
            return f"Query too complex: more than {MAX_QUERY_FIELDS} fields selected"
    return None


class EmulatorApp:
    """ASGI callable serving the emulator. Attributes `emulator` and `faults` are public."""

    def __init__(
        self, emulator: Emulator, *, api_keys: Mapping[str, str] | None,
        faults: FaultInjector, record_requests: Path | None = None,
    ) -> None:
        self.emulator = emulator
        self.record_requests = record_requests
        self.api_keys = dict(api_keys) if api_keys is not None else None
        self.faults = faults
        self.schema = load_schema()
        self.root = _root(emulator)
        self._documents: OrderedDict[str, tuple[DocumentNode, list[GraphQLError]]] = OrderedDict()
        self._documents_bytes = 0

    # ------------------------------------------------------------------ ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path == "/_emulator/health":
            await self._json(send, 200, {"status": "ok"})
        elif path == "/api/graphql" and method == "POST":
            await self._graphql(scope, receive, send)
        elif path.startswith("/_emulator/"):
            await self._test_api(scope, receive, send, method, path)
        elif path == "/api/graphql":
            await self._json(send, 405, {"error": "method not allowed: use POST"},
                             [(b"allow", b"POST")])
        else:
            await self._json(send, 404, {"error": f"not found: {path}"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------ helpers

    @staticmethod
    async def _json(
        send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        await send({
            "type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()), *(headers or [])],
        })
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _body(receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > _MAX_BODY:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _caller(self, scope: Scope) -> tuple[str, str] | None:
        """(user name, role) of the bearer key, or None when refused."""
        if self.api_keys is None:
            return "local-admin", "admin"
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, key = auth.partition(" ")
        role = self.api_keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if role is None:
            return None
        return f"emulator-{role}", role

    async def _unauthorized(self, send: Send) -> None:
        await self._json(
            send, 401,
            {"error": "unauthorized",
             "message": "Unauthorized: missing or invalid API key (Authorization: Bearer <key>)"},
            [(b"www-authenticate", b'Bearer realm="adaptive"')],
        )

    def _document(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """The parsed and validated document, from a bounded LRU cache; limits enforced."""
        cached = self._documents.get(query)
        if cached is not None:
            self._documents.move_to_end(query)
            return cached
        size = len(query.encode("utf-8", "surrogatepass"))
        if size > MAX_QUERY_BYTES:
            return None, [_limit_error(
                f"Query too large: {size} bytes; the limit is {MAX_QUERY_BYTES}", "QUERY_TOO_LARGE")]
        try:
            document = parse(query, max_tokens=MAX_QUERY_TOKENS)
        except GraphQLError as exc:
            return None, [exc]
        except RecursionError:
            return None, [_limit_error("Query nested too deeply", "QUERY_TOO_COMPLEX")]
        problem = query_complexity_problem(document)
        if problem is not None:
            return None, [_limit_error(problem, "QUERY_TOO_COMPLEX")]
        errors = validate(self.schema, document)
        if size <= _CACHE_MAX_QUERY_BYTES:
            self._documents[query] = (document, errors)
            self._documents_bytes += size
            while (len(self._documents) > _CACHE_MAX_ENTRIES
                   or self._documents_bytes > _CACHE_MAX_BYTES):
                old, _ = self._documents.popitem(last=False)
                self._documents_bytes -= len(old.encode("utf-8", "surrogatepass"))
        return document, errors

    @staticmethod
    def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if name:
            return next((o for o in ops if o.name and o.name.value == name), None)
        return ops[0] if len(ops) == 1 else None

    # ------------------------------------------------------------------ GraphQL

    async def _graphql(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = self._caller(scope)
        body = await self._body(receive)
        if caller is None:
            self.faults.count("unauthorized")
            await self._unauthorized(send)
            return
        if body is None:
            self.faults.count("bad_request")
            await self._json(send, 413, {"errors": [
                {"message": f"Request body larger than {_MAX_BODY} bytes",
                 "extensions": {"code": "BAD_REQUEST"}}]})
            return
        try:
            try:
                request = json.loads(body)
            except RecursionError:
                raise ValueError("JSON nested too deeply") from None
            if not isinstance(request, dict):
                raise TypeError("the body must be a JSON object")
            query = request["query"]
            if not isinstance(query, str):
                raise TypeError("query must be a string")
            variables = request.get("variables") or {}
            if not isinstance(variables, dict):
                raise TypeError("variables must be a JSON object")
            if _too_deep(variables, MAX_JSON_DEPTH):
                raise ValueError(f"variables nested deeper than {MAX_JSON_DEPTH} levels")
            operation_name = request.get("operationName")
            if operation_name is not None and not isinstance(operation_name, str):
                raise TypeError("operationName must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            self.faults.count("bad_request")
            detail = str(exc)
            detail = detail if len(detail) <= 200 else detail[:200] + "..."
            await self._json(send, 400, {"errors": [
                {"message": f"Bad request: expected a JSON body with a query string ({detail})",
                 "extensions": {"code": "BAD_REQUEST"}}]})
            return
        if self.record_requests is not None:
            self._record(scope, request)
        document, errors = self._document(query)
        operation = self._operation(document, operation_name) if document is not None else None
        is_mutation = operation is not None and operation.operation == OperationType.MUTATION
        op_label = operation_name or (operation.name.value if operation and operation.name
                                      else None)

        decision = self.faults.decide(is_mutation)
        if decision.delay_s > 0:
            await asyncio.sleep(decision.delay_s)
        if await self._pre_fault(decision, send, op_label):
            return

        if errors or document is None:
            self.faults.count("invalid", op_label)
            await self._json(send, 200, {"data": None,
                                         "errors": [_format_error(e) for e in errors]})
            return
        user, role = caller
        if is_mutation and role != "admin":
            self.faults.count("forbidden", op_label)
            await self._json(send, 200, {"data": None, "errors": [{
                "message": f"Forbidden: role {role} may not run mutation {op_label or ''}"
                           " (missing permission: write; only admin keys may mutate)".strip(),
                "extensions": {"code": "FORBIDDEN"}}]})
            return

        result = self._execute(document, variables, operation_name, user, role)
        if decision.action == "drop":
            # The change is committed; the caller never learns the outcome.
            self.faults.count("dropped", op_label)
            if decision.drop_reset:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", b"100000")]})
                raise DroppedResponse("emulator fault: connection reset after commit")
            await self._json(send, 502, {"error": "bad gateway (emulator fault: response "
                                                  "dropped after commit)"})
            return
        self.faults.count("ok", op_label)
        await self._json(send, 200, result)

    def _record(self, scope: Scope, request: Any) -> None:
        headers = dict(scope.get("headers") or [])
        line = json.dumps({"userAgent": headers.get(b"user-agent", b"").decode("latin-1"),
                           "body": request}) + "\n"
        assert self.record_requests is not None
        # One write on an O_APPEND descriptor: lines from several processes do not interleave.
        fd = os.open(self.record_requests, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    async def _pre_fault(self, decision: Decision, send: Send, op_label: str | None) -> bool:
        """Faults that answer before anything executes. True when a response was sent."""
        cfg = self.faults.config
        if decision.action == "rate_limit":
            self.faults.count("rate_limited", op_label)
            retry = f"{cfg.retry_after_s:g}".encode()
            await self._json(send, 429, {"error": "too many requests (emulator fault)"},
                             [(b"retry-after", retry)])
            return True
        if decision.action == "fail":
            self.faults.count("failed", op_label)
            await self._json(send, cfg.fail_status,
                             {"error": "service unavailable (emulator fault)"})
            return True
        if decision.action == "hang":
            self.faults.count("hung", op_label)
            await asyncio.sleep(cfg.hang_s)
            await self._json(send, 504, {"error": "gateway timeout (emulator fault: hang)"})
            return True
        return False

    def _execute(
        self, document: DocumentNode, variables: dict[str, Any], operation_name: str | None,
        user: str, role: str,
    ) -> dict[str, Any]:
        emu = self.emulator
        with emu.lock, emu.request():
            result = execute_sync(
                self.schema, document, root_value=self.root,
                context_value={"user": user, "role": role},
                variable_values=variables, operation_name=operation_name,
                execution_context_class=_LeafFastPath,
            )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [_format_error(e) for e in result.errors]
        return out

    # ------------------------------------------------------------------ test API

    async def _test_api(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> None:
        body = await self._body(receive)
        caller = self._caller(scope)
        if caller is None:
            await self._unauthorized(send)
            return
        if caller[1] != "admin":
            await self._json(send, 403, {"error": "forbidden: the test API needs an admin key"})
            return
        if path == "/_emulator/stats" and method == "GET":
            await self._json(send, 200, self.faults.stats())
        elif path == "/_emulator/stats/reset" and method == "POST":
            self.faults.reset_stats()
            await self._json(send, 200, self.faults.stats())
        elif path == "/_emulator/faults" and method == "GET":
            await self._json(send, 200, self.faults.config.to_dict())
        elif path == "/_emulator/faults" and method == "POST":
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                config = FaultConfig.from_dict(data, base=self.faults.config)
            except (ValueError, TypeError) as exc:
                await self._json(send, 400, {"error": f"invalid fault settings: {exc}"})
                return
            self.faults.configure(config)
            await self._json(send, 200, config.to_dict())
        else:
            await self._json(send, 404, {"error": f"not found: {method} {path}"})


def create_app(
    db_path: str | Path,
    *,
    seed: str | None = "default",
    api_keys: Mapping[str, str] | None = None,
    online_delay_s: float = 2.0,
    job_durations: tuple[float, float] = (1.0, 3.0),
    faults: FaultConfig | Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
    record_requests: str | Path | None = None,
) -> EmulatorApp:
    """Build the emulator's ASGI app over the SQLite file `db_path` (created and seeded from
    `seed` when new). `api_keys` maps key → role (admin, read-only, inference, annotator);
    None turns auth off. `job_durations` is (pending seconds, running seconds).
    `record_requests` (default: $ADAPTIVE_DEPLOY_RECORD_REQUESTS) appends every GraphQL request
    body to that file."""
    if api_keys is not None:
        bad = sorted({r for r in api_keys.values() if r not in ROLES})
        if bad:
            raise ValueError(f"unknown role(s) {', '.join(bad)}: use one of {', '.join(ROLES)}")
    if isinstance(faults, Mapping):
        config = FaultConfig.from_dict(dict(faults))
    else:
        config = faults or FaultConfig()
    timing = Timing(online_delay_s=online_delay_s, job_pending_s=job_durations[0],
                    job_running_s=job_durations[1])
    emulator = Emulator(db_path, seed=seed, timing=timing, clock=clock)
    record = record_requests if record_requests is not None else os.environ.get(RECORD_ENV)
    return EmulatorApp(emulator, api_keys=api_keys, faults=FaultInjector(config),
                       record_requests=Path(record) if record else None)
