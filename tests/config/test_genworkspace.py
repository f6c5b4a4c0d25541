"""bench/genworkspace.py: deterministic, exact counts, valid through stage 1 and stage 2."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path

import pytest

from adaptive_deploy.config.loader import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
genworkspace = importlib.import_module("genworkspace")


def _read_all(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = genworkspace.generate(tmp_path / "a", deployments=120, projects=12, models=40, seed=3)
    b = genworkspace.generate(tmp_path / "b", deployments=120, projects=12, models=40, seed=3)
    c = genworkspace.generate(tmp_path / "c", deployments=120, projects=12, models=40, seed=4)
    assert _read_all(a) == _read_all(b)
    assert _read_all(a) != _read_all(c)


@pytest.mark.slow
def test_default_scale_counts_and_validity(tmp_path: Path) -> None:
    ws = genworkspace.generate(tmp_path / "ws")
    loaded = load_config(ws)
    assert loaded.diagnostics == []
    w = loaded.workspace
    assert w is not None
    assert len(loaded.files) >= 5
    assert sum(len(p.deployments) for p in w.projects.values()) == 1000
    assert len(w.projects) == 100 and len(w.models) == 200
    per_base = Counter(m.adapter_of for m in w.models.values() if m.adapter_of)
    assert per_base and max(per_base.values()) <= 4
    assert any(m.draft for m in w.models.values())
    rules_validate = getattr(importlib.import_module("adaptive_deploy.rules"), "validate", None)
    if rules_validate is not None:
        errors = [d for d in rules_validate(loaded) if d.is_error]
        assert errors == []
