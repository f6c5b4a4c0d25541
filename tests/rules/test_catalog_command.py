"""`adaptive-deploy catalog [QUERY]` and the schema's catalog examples."""

from __future__ import annotations

import json

from click.testing import CliRunner

from adaptive_deploy.cli.main import cli
from adaptive_deploy.config import schema
from adaptive_deploy.rules import catalog


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["catalog", *args])
    return result.exit_code, result.output


def test_lists_everything_by_default() -> None:
    code, out = invoke("--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert {a["name"] for a in doc["architectures"]} == set(catalog.architectures())
    assert {g["name"] for g in doc["gpus"]} == set(catalog.gpus())
    assert {f["name"] for f in doc["formats"]} == set(catalog.weight_formats())


def test_query_matches_names_aliases_and_live_strings() -> None:
    code, out = invoke("llama-3.3")
    assert code == 0 and "llama-3.1-70b" in out and "qwen" not in out
    code, out = invoke("NVIDIA GeForce RTX 4090", "--format", "json")
    assert code == 0 and [g["name"] for g in json.loads(out)["gpus"]] == ["RTX-4090-24GB"]


def test_rows_carry_sizes_and_sources() -> None:
    _, out = invoke("gpt-oss-20b", "--format", "json")
    [arch] = json.loads(out)["architectures"]
    assert arch["precision"] == "mxfp4" and arch["weights_gib"] == 13.43
    assert arch["kv_bytes_per_token"] == 49152 and arch["source"]


def test_nothing_matches_exits_1() -> None:
    code, out = invoke("no-such-model-anywhere")
    assert code == 1 and "Nothing in the catalog matches" in out


def test_schema_offers_catalog_names_as_examples_not_an_enum() -> None:
    defs = schema.generate()["$defs"]
    gpu = defs["ComputePoolSpec"]["properties"]["gpu"]
    assert gpu["examples"] == list(catalog.gpus()) and "enum" not in gpu
    arch = defs["ModelSpec"]["properties"]["architecture"]
    assert "qwen3-8b" in arch["examples"] and "enum" not in json.dumps(arch)
