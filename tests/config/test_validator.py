"""config.validator agrees with `jsonschema` (Draft 2020-12) on our schema.

The loader uses the small validator for speed; this differential test keeps it honest: on every
corpus configuration and on a few hundred random mutations of valid ones, both engines must find
errors at the same places, and every code the small one reports must be one jsonschema's errors
map to as well.
"""

from __future__ import annotations

import copy
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from adaptive_deploy.config import loader, schema
from adaptive_deploy.config.sourcemap import SourceMap
from adaptive_deploy.config.validator import UnsupportedSchema, Validator

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "corpus"
REFERENCE = Draft202012Validator(schema.load())
LITE = schema.validator()
SOURCE = SourceMap()


def _codes_by_path(errors: list[Any]) -> dict[tuple[Any, ...], set[str]]:
    out: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for e in errors:
        for d in loader._map_schema_error(e, SOURCE):
            out[d.path].add(d.code)
    return dict(out)


def _assert_agree(doc: Any) -> None:
    ref = _codes_by_path(list(REFERENCE.iter_errors(doc)))
    lite = _codes_by_path(list(LITE.iter_errors(doc)))
    assert lite.keys() == ref.keys(), doc
    for path, codes in lite.items():
        assert codes <= ref[path], (path, codes, ref[path])
    assert LITE.is_valid(doc) == REFERENCE.is_valid(doc)


def _raw(directory: Path) -> dict[str, Any] | None:
    loaded = loader.load_config(directory)
    return loaded.raw if loaded.files and loaded.raw else None


@pytest.mark.parametrize("case", sorted(p for p in CORPUS.glob("*/*") if p.is_dir()),
                         ids=lambda p: p.name)
def test_agrees_on_corpus(case: Path) -> None:
    raw = _raw(case)
    if raw is None:
        pytest.skip("no data reaches the schema stage")
    _assert_agree(raw)


_VALUES: list[Any] = [None, -1, 0, 1, 2.5, True, "x", "", "UPPER", [], ["pool-1"], {}, {"bogus": 1},
                      "fp8", "local", 9, 1.0]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaves(v, (*path, i))
    return out


def _mutate(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _leaves(doc) if p]
        path = rng.choice(paths)
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.3 and isinstance(parent, dict):
            parent[rng.choice(["bogus", "modles", "kv_cache", "tpp"])] = 1
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(_VALUES))
    return doc


def test_agrees_on_random_mutations() -> None:
    rng = random.Random(1234)
    bases = [r for r in (_raw(CORPUS / "valid" / n) for n in ("spec-example", "anchors-and-merge"))
             if r is not None]
    assert bases
    for _ in range(400):
        _assert_agree(_mutate(rng.choice(bases), rng))


def test_refuses_unknown_keywords() -> None:
    with pytest.raises(UnsupportedSchema):
        Validator({"type": "object", "patternProperties": {"^x": {}}})
    with pytest.raises(UnsupportedSchema):
        Validator({"properties": {"a": {"$ref": "#/$defs/A"}}})


def test_equality_semantics() -> None:
    v = Validator({"enum": [1, "a"], "const": 1})
    assert v.is_valid(1) and v.is_valid(1.0)
    assert not v.is_valid(True)
    assert not Validator({"type": "integer"}).is_valid(False)
    assert Validator({"type": "integer"}).is_valid(3.0)
