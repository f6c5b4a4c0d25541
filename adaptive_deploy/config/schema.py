"""The configuration's JSON Schema: generated from the pydantic models, committed, loaded fast.

One source of truth: `generate()` builds the schema from `config/models.py`. Its output is
committed twice with identical bytes — `schemas/adaptive-deploy.v1.schema.json` (published, for
editors and CI) and `adaptive_deploy/config/schema.v1.json` (package data read at validate time,
so validation never imports the models just to get a schema). `python -m
adaptive_deploy.config.schema --write` rewrites both; tests fail when either differs from
`generate()`.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMA_ID = "https://adaptive-deploy.dev/schemas/adaptive-deploy.v1.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
PACKAGE_SCHEMA = Path(__file__).with_name("schema.v1.json")
# The published copy; exists in a source checkout, not in an installed wheel.
PUBLISHED_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "adaptive-deploy.v1.schema.json"

# The root keys a merged workspace requires. A base directory (environments,
# config/overlay.py) has neither, so the loader validates a base without them; the editor
# schema, which describes ONE file, never requires them.
WORKSPACE_REQUIRED = ("version", "workspace")

# Overlay directives: read and taken out by config/overlay.py before the merged configuration
# is validated, so they only ever appear in one file of one layer.
DIRECTIVES: dict[str, Any] = {
    "base": {
        "description": "Environments: relative path of the base directory this directory "
        "extends (e.g. ../base). Its configuration is merged under this one: mappings merge "
        "key by key, scalars and lists replace whole. A base sets no version, workspace, "
        "platform or state; each environment sets its own.",
        "type": "string",
        "minLength": 1,
    },
    "remove": {
        "description": "Environments: dotted YAML paths of the base to remove, e.g. "
        "projects.sales.deployments.legal-lora-v2 (a key holding a dot may be quoted: "
        "models.\"llama-3.1-8b\"). A path that matches nothing in the base is an error.",
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
    },
}


def generate() -> dict[str, Any]:
    """Build the JSON Schema (Draft 2020-12) of config v1 from the pydantic models.

    Optional fields never accept `null` (leaving a field out is how it stays unmanaged), every
    object forbids unknown keys, and pydantic's per-field titles are dropped as noise.
    """
    from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
    from pydantic_core import core_schema

    from adaptive_deploy.config.models import Workspace

    class _NoNull(GenerateJsonSchema):
        def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
            # `X | None` in the models means "may be left out", not "may be null".
            return self.generate_inner(schema["schema"])

        def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
            result = super().default_schema(schema)
            if result.get("default", 0) is None:
                result.pop("default")
            return result

    body = Workspace.model_json_schema(schema_generator=_NoNull, mode="validation")
    body = _tidy(body, top=True)
    _add_catalog_examples(body)
    body["required"] = list(WORKSPACE_REQUIRED)
    body["properties"] = {**body["properties"], **DIRECTIVES}
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "adaptive-deploy configuration v1",
        "description": "A workspace directory's *.yaml files, merged. See SPEC §2 (and README "
        "'Environments' for base and remove).",
        **{k: v for k, v in body.items() if k not in ("title", "description")},
    }


def _title(name: str) -> str:
    """`DeploymentSpec` → `Deployment`, `ComputePoolSpec` → `Compute pool` (editor hovers)."""
    words = re.findall(r"[A-Z][a-z]*", name.removesuffix("Spec"))
    return " ".join([words[0], *(w.lower() for w in words[1:])]) if words else name


def _tidy(node: Any, top: bool = False, definition: str | None = None) -> Any:
    """Drop pydantic's per-field titles, keep a readable title per definition; make every
    object schema explicit about unknown keys."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    if definition is not None:
        out["title"] = _title(definition)
    for key, value in node.items():
        if key == "title" and not top:
            continue
        if key == "$defs":
            out[key] = {name: _tidy(sub, definition=name) for name, sub in value.items()}
        elif key == "properties":
            out[key] = {name: _tidy(sub) for name, sub in value.items()}
        else:
            out[key] = _tidy(value)
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    patterns = out.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in out:
        # A map whose keys must match a pattern: pydantic lets other keys through unchecked
        # (`patternProperties` alone); every key must match and every value follows the schema.
        ((pattern, value_schema),) = patterns.items()
        del out["patternProperties"]
        out["propertyNames"] = {"pattern": pattern}
        out["additionalProperties"] = value_schema
    return out


def _add_catalog_examples(body: dict[str, Any]) -> None:
    """Offer the catalog's GPU and architecture names as `examples` (editors complete them);
    not an enum: an unknown name stays a warning that the fit was not checked (SPEC §3)."""
    from adaptive_deploy.rules import catalog

    defs = body.get("$defs", {})
    gpus = list(catalog.gpus())
    archs = list(catalog.architectures())
    pool = defs.get("ComputePoolSpec", {}).get("properties", {})
    if "gpu" in pool:
        pool["gpu"]["examples"] = gpus
    model = defs.get("ModelSpec", {}).get("properties", {})
    for key in ("architecture", "draft"):
        if key in model:
            model[key]["examples"] = archs


def dumps(schema: dict[str, Any]) -> str:
    """The committed formatting: two-space indent, key order as generated, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def load() -> dict[str, Any]:
    """The committed schema (package copy); fast: no pydantic import."""
    schema: dict[str, Any] = json.loads(PACKAGE_SCHEMA.read_text(encoding="utf-8"))
    return schema


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local `#/$defs/X` reference replaced by its target.

    The config schema is not recursive, so this terminates; it saves jsonschema a reference
    lookup per node (about a third of validation time on a 1,000-deployment workspace).
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = walk(defs[ref.removeprefix("#/$defs/")])
            extra = {k: walk(v) for k, v in node.items() if k != "$ref"}
            return {**target, **extra}
        return {k: walk(v) for k, v in node.items() if k != "$defs"}

    inlined: dict[str, Any] = walk(schema)
    return inlined


@functools.cache
def validator(*, workspace: bool = True) -> Draft202012Validator:
    """A cached jsonschema validator for the committed schema (references inlined); with
    `workspace`, of a merged workspace (WORKSPACE_REQUIRED at the root), else of a base.

    jsonschema is imported here, not at module level: it costs ~0.15 s, which only commands
    that validate should pay (`--version` must stay fast)."""
    from jsonschema import Draft202012Validator

    body = inline_refs(load())
    if not workspace:
        body.pop("required", None)
    return Draft202012Validator(body)


@functools.cache
def quick_check(*, workspace: bool = True) -> Callable[[Any], bool]:
    """config/quickschema.py's "certainly valid?" test of the same schema as `validator`:
    True lets a valid configuration skip jsonschema (its import and its slower walk)."""
    from adaptive_deploy.config.quickschema import compile_schema

    body = inline_refs(load())
    if not workspace:
        body.pop("required", None)
    return compile_schema(body)


# Ranges that stage 2 checks with its own codes (AD340, AD350): the validation schema leaves
# them out so a user gets one error per problem with the rule's code, while editors get them
# as they type. (definition, property) → JSON Schema keywords.
EDITOR_RANGES: dict[tuple[str, str], dict[str, Any]] = {
    ("DeploymentSpec", "num_draft_steps"): {"minimum": 1, "maximum": 8},
    ("Placement", "max_ttft_ms"): {"exclusiveMinimum": 0},
}
EDITOR_SCHEMA_NAME = "adaptive-deploy.schema.json"


def editor_schema(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema for editors (yaml-language-server): the validation schema for ONE file of a
    workspace — no required root keys, since `version` and `workspace` sit in one file of
    several — plus the ranges stage 2 checks (`EDITOR_RANGES`)."""
    out = copy.deepcopy(schema if schema is not None else load())
    out.pop("required", None)
    out["$id"] = SCHEMA_ID.replace(".v1.schema.json", ".v1.editor.schema.json")
    out["description"] = (
        "One *.yaml file of an adaptive-deploy workspace (files are merged; `version` and "
        "`workspace` are required in one of them). `adaptive-deploy validate DIR` checks the "
        "whole workspace."
    )
    for (definition, prop), keywords in EDITOR_RANGES.items():
        out["$defs"][definition]["properties"][prop].update(keywords)
    return out


def write_editor_schema(directory: str | Path) -> Path:
    """Write the editor schema into `directory` (created if needed) as
    `adaptive-deploy.schema.json`; a YAML file there points at it with the modeline
    `# yaml-language-server: $schema=adaptive-deploy.schema.json`."""
    target = Path(directory) / EDITOR_SCHEMA_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(dumps(editor_schema()), encoding="utf-8")
    return target


def modeline(yaml_file: str | Path, schema_file: str | Path) -> str:
    """The yaml-language-server modeline for `yaml_file`, pointing at `schema_file` by a
    path relative to the YAML file's directory."""
    import os

    rel = os.path.relpath(Path(schema_file).resolve(), Path(yaml_file).resolve().parent)
    return f"# yaml-language-server: $schema={Path(rel).as_posix()}"


def write(targets: tuple[Path, ...] = (PACKAGE_SCHEMA, PUBLISHED_SCHEMA)) -> list[Path]:
    """Regenerate the committed schema files; returns the paths written."""
    text = dumps(generate())
    written = []
    for target in targets:
        if target.parent.is_dir():
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


if __name__ == "__main__":  # pragma: no cover - developer tool
    if "--write" in sys.argv[1:]:
        for path in write():
            sys.stdout.write(f"wrote {path}\n")
    else:
        sys.stdout.write(dumps(generate()))
