"""AD301 / AD302 point at the placement that does not fit, and name where the model's
kv_cache_len is set when that is another file: a models file beside the projects files, or an
environment overriding its base (the value the message suggests changing)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from adaptive_deploy import rules
from adaptive_deploy.config.loader import load_config
from adaptive_deploy.diagnostics import Diagnostic
from adaptive_deploy.rules import codes

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HEADER = "version: 1\nworkspace: fit\n"
POOLS = "compute_pools:\n  pool-1: {gpu: H100-80GB, gpus_per_replica: 8, replicas: 1}\n"
MODELS = ("models:\n  qwen-3-8b:\n    architecture: qwen3-8b\n"
          "    compute_config: {tp: 1, kv_cache_len: 900000, max_seq_len: 32768}\n")
PROJECTS = ("projects:\n  support:\n    deployments:\n"
            "      qwen-3-8b: {placement: {compute_pools: [pool-1]}}\n")


def fit_errors(directory: Path) -> list[Diagnostic]:
    loaded = load_config(directory)
    assert loaded.workspace is not None, loaded.diagnostics
    return [d for d in rules.validate(loaded) if d.code == codes.MEMORY_DOES_NOT_FIT]


def test_kv_cache_len_in_another_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "workspace.yaml").write_text(HEADER + POOLS)
    (tmp_path / "models.yaml").write_text(MODELS)
    (tmp_path / "projects.yaml").write_text(PROJECTS)
    [d] = fit_errors(tmp_path)
    assert (Path(d.file or "").name, d.line) == ("projects.yaml", 4)
    assert d.message.endswith(f"(kv_cache_len is set at {tmp_path / 'models.yaml'}:4)")


def test_kv_cache_len_in_the_same_file_is_not_repeated(tmp_path: Path) -> None:
    (tmp_path / "workspace.yaml").write_text(HEADER + POOLS + MODELS + PROJECTS)
    [d] = fit_errors(tmp_path)
    assert "kv_cache_len is set at" not in d.message
    assert re.search(r"the largest kv_cache_len that fits is [0-9,]+$", d.message)


def test_an_environment_override_is_named(tmp_path: Path) -> None:
    environments = tmp_path / "environments"
    shutil.copytree(EXAMPLES / "environments", environments)
    cluster = environments / "production" / "cluster.yaml"
    lines = cluster.read_text().splitlines(keepends=True)
    [at] = [i for i, line in enumerate(lines) if "compute_config: {kv_cache_len: 300000}" in line]
    lines[at] = lines[at].replace("300000", "900000")
    cluster.write_text("".join(lines))
    found = fit_errors(environments / "production")
    assert found
    for d in found:
        # The placement is the base's; the value that does not fit is production's own.
        assert Path(d.file or "").name == "projects.yaml" and "base" in (d.file or "")
        assert d.message.endswith(f"(kv_cache_len is set at {cluster}:{at + 1})")
