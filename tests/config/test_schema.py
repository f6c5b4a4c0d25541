"""config.schema: the committed schema files equal generate(), and the schema keeps its promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adaptive_deploy.config import schema

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "schemas" / "adaptive-deploy.v1.schema.json"


def test_published_schema_is_current() -> None:
    expected = schema.dumps(schema.generate())
    assert PUBLISHED.read_text(encoding="utf-8") == expected, (
        "schemas/adaptive-deploy.v1.schema.json is stale: run "
        "`python -m adaptive_deploy.config.schema --write`")


def test_package_copy_equals_published() -> None:
    assert schema.PACKAGE_SCHEMA.read_bytes() == PUBLISHED.read_bytes()
    assert schema.load() == schema.generate()


def _objects(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


def test_every_field_described_no_null_no_unknown_keys() -> None:
    generated = schema.generate()
    objects = list(_objects(generated))
    assert len(objects) >= 10
    for where, obj in objects:
        assert obj.get("additionalProperties") is False, where
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{where}/{name} has no description"
    text = schema.dumps(generated)
    assert '"null"' not in text and '"default": null' not in text


def test_draft_2020_12_and_inlined_refs() -> None:
    from jsonschema import Draft202012Validator

    loaded = schema.load()
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(loaded)
    inlined = schema.inline_refs(loaded)
    assert "$ref" not in schema.dumps(inlined) and "$defs" not in inlined


def test_validator_accepts_spec_example_and_rejects_null() -> None:
    import yaml

    doc = {}
    for f in sorted((REPO / "tests" / "corpus" / "valid" / "spec-example").glob("*.y*ml")):
        doc.update(yaml.safe_load(f.read_text()))
    v = schema.validator()
    assert list(v.iter_errors(doc)) == []
    doc["models"]["qwen-3-8b"]["precision"] = None
    errors = list(v.iter_errors(doc))
    assert errors and all(e.instance is None for e in errors)
    assert {tuple(e.absolute_path) for e in errors} == {("models", "qwen-3-8b", "precision")}


def test_the_editor_schema_validates_each_file_of_bases_and_environments() -> None:
    """An editor applies the editor schema to one file at a time: a base's file (no version or
    workspace), an environment's file (base, remove) and each file of a multi-file workspace
    pass; a mistyped directive does not. The validation schema knows the directives too and
    still requires version and workspace of a merged workspace; a base is validated without."""
    import yaml
    from jsonschema import Draft202012Validator

    editor = Draft202012Validator(schema.editor_schema())
    files = sorted((REPO / "examples" / "environments").glob("*/*.yaml"))
    files += sorted((REPO / "tests" / "corpus" / "valid" / "spec-example").glob("*.y*ml"))
    assert len(files) >= 7
    for f in files:
        assert list(editor.iter_errors(yaml.safe_load(f.read_text()))) == [], f
    for bad in ({"base": 3}, {"base": ""}, {"remove": "projects.sales"}, {"remove": []},
                {"bsae": "../base"}):
        assert list(editor.iter_errors(bad)), bad
    assert {"base", "remove"} <= set(schema.load()["properties"])
    assert {e.message for e in schema.validator().iter_errors({"models": {}})} == {
        "'version' is a required property", "'workspace' is a required property"}
    assert list(schema.validator(workspace=False).iter_errors({"models": {}})) == []
