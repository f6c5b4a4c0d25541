"""The shipped examples validate clean, fit, and use only the seeded emulator's names."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_deploy.config.loader import load_config
from adaptive_deploy.live import LiveState
from adaptive_deploy.rules import validate
from adaptive_deploy.rules.memory import fit_report
from tests.rules.helpers import seed_live

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = ["quickstart", "speculative", "multi-pool"]


@pytest.mark.parametrize("name", NAMES)
def test_example_validates_clean_offline(name: str) -> None:
    loaded = load_config(EXAMPLES / name)
    assert loaded.diagnostics == [] and loaded.workspace is not None
    assert [d.format() for d in validate(loaded)] == []


@pytest.mark.parametrize("name", NAMES)
def test_example_validates_clean_against_the_seed(name: str, live: LiveState) -> None:
    loaded = load_config(EXAMPLES / name)
    assert [d.format() for d in validate(loaded, live)] == []


@pytest.mark.parametrize("name", NAMES)
def test_example_fits(name: str) -> None:
    loaded = load_config(EXAMPLES / name)
    assert loaded.workspace is not None
    rows = fit_report(loaded.workspace)
    assert rows and all(r.verdict == "fits" for r in rows)


def test_quickstart_shape() -> None:
    ws = load_config(EXAMPLES / "quickstart").workspace
    assert ws is not None
    assert ws.workspace == "quickstart" and ws.platform.base_url is None
    assert len(ws.compute_pools) == len(ws.projects) == 1
    cc = ws.models["qwen-3-8b"].compute_config
    assert cc is not None and (cc.tp, cc.kv_cache_len, cc.max_seq_len) == (1, 300000, 32768)
    assert [k for k, m in ws.models.items() if m.adapter_of] == ["support-lora-v3"]


def test_multi_pool_has_adapters_at_the_limit() -> None:
    ws = load_config(EXAMPLES / "multi-pool").workspace
    assert ws is not None
    on_qwen = {k for p in ws.projects.values() for k in p.deployments
               if ws.models[k].adapter_of == "qwen-3-8b"}
    assert len(on_qwen) == ws.rules.adapters_per_base_model
    assert {ws.compute_pools[p].gpu for p in ws.compute_pools} == {"H100-80GB", "H200-141GB"}


def test_examples_use_seeded_names_only() -> None:
    live = seed_live()
    for name in NAMES:
        ws = load_config(EXAMPLES / name).workspace
        assert ws is not None
        assert set(ws.compute_pools) <= set(live.compute_pools)
        for key, spec in ws.models.items():
            assert key in live.models or spec.produced_by, (name, key)


def test_rule_diagnostics_point_at_the_yaml_line(tmp_path: Path) -> None:
    text = (EXAMPLES / "quickstart" / "adaptive-deploy.yaml").read_text()
    (tmp_path / "ws.yaml").write_text(text.replace("kv_cache_len: 300000", "kv_cache_len: 900000"))
    loaded = load_config(tmp_path)
    [d] = validate(loaded)
    lines = text.splitlines()
    # The placement's pool entry of the qwen-3-8b deployment.
    expected_line = next(i for i, line in enumerate(lines, 1)
                         if "placement: {compute_pools: [pool-1], max_ttft_ms" in line)
    assert (d.code, d.file, d.line) == ("AD301", str(tmp_path / "ws.yaml"), expected_line)
    assert d.column == lines[expected_line - 1].index("pool-1") + 1
    assert d.format().startswith(f"{tmp_path / 'ws.yaml'}:{expected_line}:")
