"""Packaging metadata: an SPDX license expression matching the LICENSE file, classifiers and
project URLs, as installed (`pip install -e '.[test]'` built this metadata)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_expression_backed_by_the_license_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    # PEP 639: with a license expression, no License :: classifier.
    assert not any(c.startswith("License ::") for c in project["classifiers"])
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    version = next(r for r in requires if r.startswith("setuptools"))
    assert int(re.search(r">=(\d+)", version).group(1)) >= 77  # type: ignore[union-attr]


def test_installed_metadata() -> None:
    meta = importlib.metadata.metadata("adaptive-deploy")
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues"} <= set(urls)
    assert "Programming Language :: Python :: 3.11" in (meta.get_all("Classifier") or [])
