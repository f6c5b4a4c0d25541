"""The journey a new user takes (SPEC §8), on the embedded default platform, through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.helpers import run_cli

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def test_quickstart_journey(tmp_path: Path) -> None:
    ws = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, ws, ignore=shutil.ignore_patterns(".adaptive-deploy"))

    plan = run_cli("plan", str(ws))
    assert plan.code == 0, plan.text
    assert plan.err.count("\n") == 1 and "embedded local platform" in plan.err
    for line in ("+ project.support", "+ deployment.support/qwen-3-8b",
                 "+ deployment.support/support-lora-v3", "~ model.qwen-3-8b"):
        assert line in plan.out
    assert "GPU memory" in plan.out
    assert plan.out.rstrip().endswith("Plan: 3 to add, 1 to change, 0 to destroy.")
    assert (ws / ".adaptive-deploy" / "platform.db").exists()
    assert (ws / ".adaptive-deploy" / ".gitignore").read_text().strip() == "*"

    applied = run_cli("apply", str(ws), "--auto-approve")
    assert applied.code == 0, applied.text
    assert "status ONLINE" in applied.out
    assert applied.out.rstrip().endswith("Apply complete! Resources: 3 added, 1 changed, 0 destroyed.")

    again = run_cli("plan", str(ws), "--detailed-exitcode")
    assert again.code == 0, again.text
    assert "No changes. The platform matches the configuration." in again.out

    config = ws / "adaptive-deploy.yaml"
    config.write_text(config.read_text().replace("kv_cache_len: 300000", "kv_cache_len: 340000"))
    edited = run_cli("plan", str(ws), "--detailed-exitcode")
    assert edited.code == 2, edited.text
    assert "~ model.qwen-3-8b" in edited.out
    assert "kv_cache_len: 300000 → 340000" in edited.out
    assert "63.7 → 69.2" in edited.out
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in edited.out

    fit = run_cli("fit", str(ws))
    assert fit.code == 0, fit.text
    assert "69.2 / 71.3 GiB" in fit.out and "█" in fit.out

    config.write_text(config.read_text().replace("kv_cache_len: 340000", "kv_cache_len: 400000"))
    too_big = run_cli("plan", str(ws))
    assert too_big.code == 1
    assert "adaptive-deploy.yaml:" in too_big.err and "error[AD301]" in too_big.err
    assert "355,232" in too_big.err
