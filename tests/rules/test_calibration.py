"""The memory model against the public dataset of engine measurements (tests/data/engine-memory.tsv).

Every figure in the dataset is copied from a public source named on its row (inference-engine
issues and pull requests, committed engine logs, benchmark reports), so these checks compare
the model with what engines reported, not with the project's own numbers.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_deploy.rules import calibration, catalog, memory

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "data" / "engine-memory.tsv"
ROWS = calibration.load(DATASET)
PREDS = calibration.evaluate(ROWS)


def _ids(check: str) -> list[calibration.Prediction]:
    return [p for p in PREDS if p.applies.get(check)]


def test_dataset_breadth() -> None:
    assert len(ROWS) >= 40
    archs = {p.arch.name: p.arch for p in PREDS}
    assert len(archs) >= 12
    assert any(a.moe for a in archs.values()) and any(a.mla for a in archs.values())
    assert any(a.sliding_window for a in archs.values())
    assert any(a.moe is None and a.mla is None and a.sliding_window is None for a in archs.values())
    assert len({r.gpu for r in ROWS if r.gpu}) >= 6
    assert {1, 2, 4, 8} <= {r.tp for r in ROWS}
    formats = {r.weight_format for r in ROWS}
    assert {"bf16", "fp8"} <= formats and any(f.startswith("int4") for f in formats)
    assert any(r.kv_dtype == "fp8" for r in ROWS)


def test_every_row_names_a_checkable_public_source() -> None:
    for r in ROWS:
        assert re.match(r"https://", r.source), r.id
        assert r.quote, r.id
        assert catalog.find_architecture(r.model) is not None, r.id
        if r.gpu:
            assert catalog.find_gpu(r.gpu) is not None, r.id


@pytest.mark.parametrize("pred", _ids("weights"), ids=lambda p: p.row.id)
def test_weights_within_2_percent(pred: calibration.Prediction) -> None:
    assert pred.weights_error is not None and abs(pred.weights_error) <= 0.02


def test_every_catalogue_model_with_rows_is_checked_for_weights() -> None:
    models = {p.arch.name for p in PREDS if p.row.weights_gib is not None}
    checked = {p.arch.name for p in _ids("weights")}
    assert models == checked


@pytest.mark.parametrize("pred", _ids("bpt"), ids=lambda p: p.row.id)
def test_kv_bytes_per_token_within_1_percent(pred: calibration.Prediction) -> None:
    assert pred.bpt_error is not None and abs(pred.bpt_error) <= 0.01


@pytest.mark.parametrize("pred", _ids("pool"), ids=lambda p: p.row.id)
def test_never_promises_more_than_2_percent_above_the_engine_pool(pred: calibration.Prediction) -> None:
    assert pred.pool_over is not None and pred.pool_over <= 0.02


def test_median_gap_at_most_8_percent() -> None:
    s = calibration.summarize(PREDS)
    assert s.pool_rows >= 15
    assert s.pool_median_gap <= 0.08


@pytest.mark.parametrize("pred", _ids("failure"), ids=lambda p: p.row.id)
def test_engine_failures_are_does_not_fit(pred: calibration.Prediction) -> None:
    assert pred.failure_verdict == memory.DOES_NOT_FIT


def test_committed_coefficients_cover_the_fit() -> None:
    """overhead.yaml holds the fit rounded up, never a value the dataset contradicts."""
    cal = memory.calibration()
    f = calibration.fit(PREDS)
    assert f.sampler_factor <= cal.sampler_factor <= f.sampler_factor + 0.1
    assert f.token_factor <= cal.token_factor <= f.token_factor + 0.1
    assert f.moe_token_factor <= cal.moe_token_factor <= f.moe_token_factor + 0.1
    assert f.non_torch_tp1 <= cal.non_torch_tp1 + 1e-9
    assert f.non_torch_tp_multi <= cal.non_torch_tp_multi + 1e-9
    assert cal.tight_margin_gib == pytest.approx(math.ceil(f.tight_margin_gib * 20 - 1e-9) / 20)


def test_calibration_document_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "memory_calibration.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
