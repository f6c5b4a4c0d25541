"""`adaptive-deploy fit`: text (golden), json and markdown output, what-if flags, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adaptive_deploy.cli.main import cli
from adaptive_deploy.render import fit as render
from adaptive_deploy.rules.memory import fit_report
from tests.rules.helpers import workspace

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"
GOLDEN = Path(__file__).parent / "golden"

ROW_KEYS = {
    "deployment", "model", "pool", "gpu", "tp", "kv_cache_len", "weights_gib", "kv_gib",
    "draft_gib", "adapters_gib", "overhead_gib", "total_gib", "usable_gib", "headroom_gib",
    "verdict", "max_kv_cache_len",
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["fit", *args], env={"NO_COLOR": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_text_output_golden(update_golden: bool) -> None:
    code, out, _ = invoke(str(QUICKSTART))
    assert code == 0
    check_golden("fit_quickstart.txt", out, update_golden)


def test_multi_pool_text_golden(update_golden: bool) -> None:
    code, out, _ = invoke(str(ROOT / "examples" / "multi-pool"))
    assert code == 0
    check_golden("fit_multi_pool.txt", out, update_golden)


def test_json_output() -> None:
    code, out, _ = invoke(str(QUICKSTART), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    [row] = doc["memory"]
    assert set(row) >= ROW_KEYS
    assert (row["deployment"], row["pool"], row["gpu"], row["verdict"]) == (
        "deployment.support/qwen-3-8b", "pool-1", "H100-80GB", "fits")
    # weights 15.26 + KV 41.20 (memory.md) + the calibrated overhead (non-torch, activation, graphs)
    parts = row["weights_gib"] + row["kv_gib"] + row["adapters_gib"] + row["overhead_gib"]
    assert row["total_gib"] == pytest.approx(parts, abs=0.02)
    assert row["overhead_gib"] == pytest.approx(
        row["non_torch_gib"] + row["activation_gib"] + row["cudagraph_gib"], abs=0.02)
    assert (row["weights_gib"], row["kv_gib"]) == (15.26, 41.2)
    assert doc["summary"]["fits"] == 1


def test_what_if_small_gpu_does_not_fit() -> None:
    code, out, _ = invoke(str(QUICKSTART), "--gpu", "L4-24GB", "--format", "json")
    assert code == 1
    [row] = json.loads(out)["memory"]
    assert (row["gpu"], row["verdict"]) == ("L4-24GB", "does-not-fit")


def test_what_if_tp_override() -> None:
    code, out, _ = invoke(str(QUICKSTART), "--tp", "2", "--format", "json")
    [row] = json.loads(out)["memory"]
    assert code == 0 and row["tp"] == 2 and row["weights_gib"] == pytest.approx(7.63, abs=0.01)


def test_unknown_gpu_is_a_usage_error() -> None:
    code, _, err = invoke(str(QUICKSTART), "--gpu", "TPU-v9")
    assert code == 1 and "unknown GPU 'TPU-v9'" in err and "H100-80GB" in err


def test_does_not_fit_exits_1_with_text(tmp_path: Path) -> None:
    text = (QUICKSTART / "adaptive-deploy.yaml").read_text().replace("300000", "900000")
    (tmp_path / "ws.yaml").write_text(text)
    code, out, _ = invoke(str(tmp_path))
    assert code == 1
    assert "does-not-fit" in out and "0 fit, 0 tight, 1 do not fit" in out


def test_invalid_config_reports_location_not_traceback(tmp_path: Path) -> None:
    (tmp_path / "ws.yaml").write_text("version: 1\nworkspace: x\nmodels:\n  m: {tp: 1}\n")
    code, out, err = invoke(str(tmp_path))
    assert code == 1 and "Traceback" not in out + err
    assert "ws.yaml:4:" in err and "[AD201]" in err


def test_markdown_output() -> None:
    code, out, _ = invoke(str(QUICKSTART), "--format", "markdown")
    assert code == 0
    assert out.splitlines()[0] == (
        "| deployment | pool (GPU) | tp · KV tokens | GiB per GPU / usable | verdict |")
    assert "| `support/qwen-3-8b` | `pool-1` H100-80GB | tp 1 · 300,000 | 63.7 / 71.3 | ✅ fits |" \
        in out
    assert "largest `kv_cache_len` that fits: 355,232" in out


# -- the bar ------------------------------------------------------------------------------------


def test_bar_has_fixed_width_and_a_usable_mark() -> None:
    [row] = fit_report(workspace())
    bar = render.bar(row)
    assert len(bar) == render.BAR_WIDTH
    assert bar.count(render.USABLE) == 1
    assert bar.index(render.USABLE) == round(0.9 * render.BAR_WIDTH)
    assert bar.startswith(render.WEIGHTS) and render.KV in bar and render.DRAFT not in bar


def test_bar_overflows_past_the_usable_mark_when_it_does_not_fit() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 900_000}}}
    [row] = fit_report(workspace(models=models, projects={"p": {"deployments": {
        "qwen-3-8b": {"placement": {"compute_pools": ["pool-1"]}}}}}))
    bar = render.bar(row)
    assert row.verdict == "does-not-fit" and render.FREE not in bar
    assert len(bar) == render.BAR_WIDTH


def test_unchecked_rows_are_rendered_with_a_reason() -> None:
    models = {"mystery-model": {"compute_config": {"tp": 1}}}
    rows = fit_report(workspace(models=models, projects={"p": {"deployments": {
        "mystery-model": {"placement": {"compute_pools": ["pool-1"]}}}}}))
    text = render.render_text(rows)
    assert "not checked: unknown architecture 'mystery-model'" in text
    assert "1 unchecked" in text
    assert render.bar(rows[0]) == ""
