"""`architecture: path/to/config.json`: any Hugging Face checkpoint, read from the workspace
(never fetched) or, in `diff --base`, from the git ref."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adaptive_deploy.cli.main import cli
from adaptive_deploy.config.loader import load_config
from adaptive_deploy.rules import catalog, codes, hfconfig, memory, validate
from tests.configdiff.gitrepo import GitRepo

# Qwen/Qwen3-8B's config.json fields (the catalog entry's source holds the same values).
QWEN3_8B: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 4096,
    "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "intermediate_size": 12288, "vocab_size": 151936, "tie_word_embeddings": False,
    "max_position_embeddings": 40960, "torch_dtype": "bfloat16",
}

WORKSPACE = """\
version: 1
workspace: test
compute_pools:
  pool-1: {{gpu: H100-80GB, gpus_per_replica: 8}}
models:
  my-model:
    architecture: {arch}
    compute_config: {{tp: 1, kv_cache_len: 100000}}
projects:
  p:
    deployments:
      my-model: {{placement: {{compute_pools: [pool-1]}}}}
"""


def write_ws(root: Path, arch: str, config: dict[str, Any] | str | None = QWEN3_8B) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adaptive-deploy.yaml").write_text(WORKSPACE.format(arch=arch))
    if config is not None:
        target = root / "models" / "my-model" / "config.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config if isinstance(config, str) else json.dumps(config))
    return root


def test_config_json_matches_the_catalog_entry() -> None:
    arch, precision = hfconfig.architecture_from_config("x", QWEN3_8B)
    entry = catalog.find_architecture("qwen3-8b")
    assert entry is not None and precision is None
    assert memory.param_counts(arch).total == memory.param_counts(entry).total
    assert memory.kv_bytes_per_token(arch) == memory.kv_bytes_per_token(entry)


def test_fit_is_checked_from_a_workspace_config_json(tmp_path: Path) -> None:
    ws = write_ws(tmp_path / "ws", "models/my-model/config.json")
    loaded = load_config(ws)
    assert [d.code for d in validate(loaded)] == []
    result = CliRunner().invoke(cli, ["fit", str(ws), "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)["memory"]
    assert (row["verdict"], row["weights_gib"]) == ("fits", 15.26)


@pytest.mark.parametrize(
    ("config", "reason"),
    [(None, "cannot read models/my-model/config.json"),
     ("{not json", "is not a usable config.json: not valid JSON"),
     (json.dumps({"hidden_size": 4096}), "has no positive integer 'num_hidden_layers'")],
)
def test_an_unusable_file_is_an_explained_unchecked_warning(tmp_path: Path, config: Any, reason: str) -> None:
    ws = write_ws(tmp_path / "ws", "models/my-model/config.json", config)
    [d] = validate(load_config(ws))
    assert (d.code, d.severity.value) == (codes.MEMORY_UNKNOWN_ARCHITECTURE, "warning")
    assert reason in d.message and "not checked" in d.message
    assert d.path == ("models", "my-model", "architecture")


def test_absolute_paths_are_refused(tmp_path: Path) -> None:
    ws = write_ws(tmp_path / "ws", "/etc/config.json", None)
    [d] = validate(load_config(ws))
    assert "relative to the workspace" in d.message


def test_quantization_config_sets_the_weight_format() -> None:
    cfg = {**QWEN3_8B, "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    assert hfconfig.architecture_from_config("x", cfg)[1] == "fp8"
    awq = {**QWEN3_8B, "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}
    assert hfconfig.architecture_from_config("x", awq)[1] == "int4-awq"


def test_moe_mla_and_sliding_window_are_read() -> None:
    lite = {  # deepseek-ai/DeepSeek-V2-Lite (the catalog entry's values)
        "model_type": "deepseek_v2", "hidden_size": 2048, "num_hidden_layers": 27,
        "num_attention_heads": 16, "num_key_value_heads": 16, "intermediate_size": 10944,
        "vocab_size": 102400, "max_position_embeddings": 163840, "kv_lora_rank": 512,
        "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
        "moe_intermediate_size": 1408, "n_routed_experts": 64, "n_shared_experts": 2,
        "num_experts_per_tok": 6, "first_k_dense_replace": 1,
    }
    arch, _ = hfconfig.architecture_from_config("lite", lite)
    entry = catalog.find_architecture("deepseek-v2-lite")
    assert entry is not None
    assert memory.param_counts(arch).total == memory.param_counts(entry).total
    assert memory.kv_bytes_per_token(arch).full == 27 * 576 * 2
    oss = {"model_type": "gpt_oss", "hidden_size": 2880, "num_hidden_layers": 4,
           "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
           "intermediate_size": 2880, "vocab_size": 201088, "sliding_window": 128,
           "layer_types": ["sliding_attention", "full_attention"] * 2,
           "num_local_experts": 32, "num_experts_per_tok": 4}
    arch, _ = hfconfig.architecture_from_config("oss", oss)
    assert arch.sliding_window is not None and arch.sliding_window.local_layers == 2


def test_diff_base_reads_the_config_json_at_the_ref(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    (repo.workspace / "models" / "my-model").mkdir(parents=True)
    (repo.workspace / "models" / "new").mkdir(parents=True)
    repo.write("adaptive-deploy.yaml", WORKSPACE.format(arch="models/my-model/config.json"))
    repo.write("models/my-model/config.json", json.dumps(QWEN3_8B))
    repo.commit("base")
    # The head moves the file and raises kv_cache_len: the base side must still find its file.
    repo.remove("models/my-model/config.json")
    repo.write("models/new/config.json", json.dumps(QWEN3_8B))
    repo.write("adaptive-deploy.yaml", WORKSPACE.format(arch="models/new/config.json")
               .replace("kv_cache_len: 100000", "kv_cache_len: 200000"))
    result = CliRunner().invoke(cli, ["diff", str(repo.workspace), "--base", "HEAD", "--format", "json"])
    assert result.exit_code == 2, result.output
    [impact] = json.loads(result.output)["memory"]
    assert impact["before"]["verdict"] == "fits" and impact["after"]["verdict"] == "fits"
    assert impact["before"]["weights_gib"] == impact["after"]["weights_gib"] == 15.26
