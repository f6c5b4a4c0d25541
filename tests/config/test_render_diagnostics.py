"""render.diagnostics: text, JSON and GitHub annotation output."""

from __future__ import annotations

import json
from pathlib import Path

from adaptive_deploy.diagnostics import Diagnostic, Severity
from adaptive_deploy.render.diagnostics import (
    relative_file,
    render_github,
    render_json,
    render_text,
    summary,
)

ERR = Diagnostic(Severity.ERROR, "AD202", "'tp' must be an integer", "/ws/main.yaml", 8, 24,
                 ("models", "m", "compute_config", "tp"))
WARN = Diagnostic(Severity.WARNING, "AD302", "tight", "/ws/a.yaml", 2, 1, ("projects", "p"))


def test_summary_wording() -> None:
    assert summary([]) == "Configuration is valid."
    assert summary([WARN]) == "Configuration is valid (1 warning)."
    assert summary([ERR, WARN, WARN]) == "1 error, 2 warnings"


def test_text_sorted_relative_and_uncoloured() -> None:
    out = render_text([ERR, WARN], cwd="/ws")
    assert out == (
        "a.yaml:2:1: warning[AD302]: tight (projects.p)\n"
        "main.yaml:8:24: error[AD202]: 'tp' must be an integer (models.m.compute_config.tp)\n"
        "1 error, 1 warning\n")
    assert "\x1b[" not in out
    assert "\x1b[31m" in render_text([ERR], color=True, cwd="/ws")


def test_relative_file_only_below_cwd(tmp_path: Path) -> None:
    assert relative_file(str(tmp_path / "x" / "a.yaml"), tmp_path) == "x/a.yaml"
    assert relative_file("/elsewhere/a.yaml", tmp_path) == "/elsewhere/a.yaml"
    assert relative_file("rel/a.yaml", tmp_path) == "rel/a.yaml"
    assert relative_file(None, tmp_path) is None


def test_json_document() -> None:
    doc = json.loads(render_json([ERR], cwd="/ws"))
    assert doc == {"valid": False, "diagnostics": [{
        "severity": "error", "code": "AD202", "message": "'tp' must be an integer",
        "file": "main.yaml", "line": 8, "column": 24, "path": "models.m.compute_config.tp"}]}
    assert json.loads(render_json([WARN]))["valid"] is True


def test_github_annotations_escape_data_and_properties() -> None:
    tricky = Diagnostic(Severity.ERROR, "AD105", "100% bad\r\nline two", "/ws/dir,x/a:b.yaml", 3,
                        None, ())
    out = render_github([tricky, WARN], cwd="/ws").splitlines()
    assert out[0] == "::warning file=a.yaml,line=2,col=1,title=AD302::tight (projects.p)"
    assert out[1] == "::error file=dir%2Cx/a%3Ab.yaml,line=3,title=AD105::100%25 bad%0D%0Aline two"
    assert out[-1] == "1 error, 1 warning"
    no_file = Diagnostic(Severity.ERROR, "AD101", "empty", None, None, None, ())
    assert render_github([no_file]).splitlines()[0] == "::error title=AD101::empty"
