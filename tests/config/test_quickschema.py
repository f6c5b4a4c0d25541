"""The fast "certainly valid?" schema check (config/quickschema.py) never says yes where
jsonschema reports an error: checked on every corpus case, every example and random mutations
of valid configurations. It must also say yes to the valid ones, or the fast path is dead."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_deploy.config.loader import load_config
from adaptive_deploy.config.quickschema import compile_schema
from adaptive_deploy.config.schema import quick_check, validator

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
VALID_DIRS = sorted(
    [p for p in (CORPUS / "valid").iterdir() if p.is_dir()]
    + [p for p in (ROOT / "examples").rglob("*") if p.is_dir() and any(p.glob("*.yaml"))]
)
INVALID_DIRS = sorted(p for p in (CORPUS / "invalid").iterdir() if p.is_dir())


def _schema_valid(raw: Any, workspace: bool = True) -> bool:
    return not any(True for _ in validator(workspace=workspace).iter_errors(raw))


def _raw(directory: Path) -> tuple[Any, bool]:
    loaded = load_config(directory)
    return loaded.raw, loaded.kind != "base"


@pytest.mark.parametrize("directory", VALID_DIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_valid_configurations_take_the_fast_path(directory: Path) -> None:
    raw, workspace = _raw(directory)
    assert _schema_valid(raw, workspace)
    assert quick_check(workspace=workspace)(raw) is True


@pytest.mark.parametrize("directory", INVALID_DIRS, ids=lambda p: p.name)
def test_never_certain_where_jsonschema_finds_an_error(directory: Path) -> None:
    raw, workspace = _raw(directory)
    if not _schema_valid(raw, workspace):
        assert quick_check(workspace=workspace)(raw) is False


def test_the_corpus_holds_schema_errors() -> None:
    """The implication above is only tested if some invalid cases fail the schema itself."""
    failing = [d for d in INVALID_DIRS if not _schema_valid(*_raw(d))]
    assert len(failing) >= 10


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "integer"}, True, False),  # a bool is not an integer in JSON Schema
        ({"type": "integer"}, 2.0, True),
        ({"type": "number", "minimum": 1}, True, False),
        ({"type": "string"}, datetime.date(2026, 1, 1), False),  # a YAML date is no string
        ({"enum": [1]}, 1.0, False),  # equal for jsonschema; the fast check defers
        ({"enum": ["a", "b"]}, "b", True),
        ({"pattern": "^a"}, "ab", True),
        ({"pattern": "b"}, "ab", True),  # search, not match
        ({"unknownKeyword": 1}, 1, False),
        ({"oneOf": [{"type": "string"}, {"type": "string"}]}, "x", False),
        ({"additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
        ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ok": 1, "N-o": 2}, False),
        ({"required": ["a"]}, {"b": 1}, False),
        ({"items": {"type": "string"}, "minItems": 1}, [], False),
        ({"exclusiveMinimum": 0}, 0, False),
    ],
)
def test_keyword_semantics(schema: dict[str, Any], value: Any, expected: bool) -> None:
    assert compile_schema(schema)(value) is expected
    if expected:
        from jsonschema import Draft202012Validator

        assert Draft202012Validator(schema).is_valid(value)


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "a", "bf16", "fp8", "H100", "-x", "a/b", "llama-3.1-8b", "0"]),
    st.dates(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


BASES = [_raw(d) for d in VALID_DIRS]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_random_mutations_never_fool_it(data: st.DataObject) -> None:
    raw, workspace = data.draw(st.sampled_from(BASES))
    mutated = copy.deepcopy(raw)
    path = data.draw(st.sampled_from(_paths(mutated)[1:]))
    parent = mutated
    for key in path[:-1]:
        parent = parent[key]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent[path[-1]], dict):
        parent[path[-1]][data.draw(st.text(max_size=10))] = data.draw(VALUES)
    else:
        parent[path[-1]] = data.draw(VALUES)
    if quick_check(workspace=workspace)(mutated):
        assert _schema_valid(mutated, workspace), path
