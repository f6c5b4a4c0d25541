"""The PR comment and the drift issue as a reviewer sees them: Markdown rendered by the real
cmark-gfm (GitHub's fork of cmark), laid out by headless Chromium at GitHub's comment width
with GitHub's rules for tables and code blocks (both scroll sideways instead of wrapping), and
measured: nothing may need a horizontal scroll. A screenshot is kept for a person to look at
(`ADAPTIVE_DEPLOY_SCREENSHOTS=DIR` keeps them in DIR).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adaptive_deploy.render import configdiff, drift, markdown
from tests.render.test_injection import HOSTILE, _drift_doc
from tests.render.test_plan_renderers import scenario
from tests.tools import require

COMMENT_WIDTH = 760   # px: the body of a comment in a pull request's conversation tab
# The parts of GitHub's markdown CSS that decide the layout (github-markdown-css).
CSS = """
body { margin: 0; }
.markdown-body { box-sizing: border-box; width: WIDTHpx; padding: 16px;
  font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  font-size: 14px; line-height: 1.5; word-wrap: break-word; }
.markdown-body table { display: block; width: max-content; max-width: 100%; overflow: auto;
  border-spacing: 0; border-collapse: collapse; }
.markdown-body td, .markdown-body th { padding: 6px 13px; border: 1px solid #d1d9e0; }
.markdown-body code { font-family: ui-monospace, "DejaVu Sans Mono", monospace;
  font-size: 85%; padding: .2em .4em; white-space: break-spaces; }
.markdown-body pre { overflow: auto; padding: 16px; font-size: 85%; line-height: 1.45;
  background: #f6f8fa; }
.markdown-body pre code { white-space: pre; padding: 0; font-size: 100%; }
""".replace("WIDTH", str(COMMENT_WIDTH))
MEASURE = """
<script>
window.addEventListener('load', () => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const over = [];
  for (const el of document.querySelectorAll('.markdown-body table, .markdown-body pre')) {
    if (el.scrollWidth > el.clientWidth + 1) {
      over.push({tag: el.tagName, scroll: el.scrollWidth, client: el.clientWidth,
                 text: el.innerText.slice(0, 200)});
    }
  }
  const out = document.createElement('pre');
  out.id = 'measure';
  out.textContent = JSON.stringify({width: document.documentElement.scrollWidth,
                                    overflow: over});
  document.body.appendChild(out);
});
</script>
"""


def _chromium(*args: str, tmp: Path) -> str:
    exe = require("chromium")
    profile = tmp / "profile"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
           f"--window-size={COMMENT_WIDTH},2400", "--virtual-time-budget=2000", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def render_page(md: str, tmp: Path, name: str) -> dict[str, Any]:
    """cmark-gfm → HTML page → Chromium; the measurements, and a screenshot beside them."""
    cmark = require("cmark-gfm")
    body = subprocess.run(
        [cmark, "--unsafe", "-e", "table", "-e", "strikethrough", "-e", "autolink",
         "-e", "tagfilter", "--to", "html"],
        input=md, capture_output=True, text=True, check=True, timeout=30).stdout
    page = tmp / f"{name}.html"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style>"
                    f"</head><body><article class='markdown-body'>{body}</article>"
                    f"{MEASURE}</body></html>", encoding="utf-8")
    dom = _chromium("--dump-dom", page.as_uri(), tmp=tmp)
    m = re.search(r'<pre id="measure">(.*?)</pre>', dom, re.S)
    assert m, dom[-2000:]
    import html

    result: dict[str, Any] = json.loads(html.unescape(m.group(1)))
    keep = os.environ.get("ADAPTIVE_DEPLOY_SCREENSHOTS")
    shot = (Path(keep) if keep else tmp) / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    _chromium(f"--screenshot={shot}", page.as_uri(), tmp=tmp)
    assert shot.stat().st_size > 1000
    result["dom"] = dom
    return result


def _diff_doc() -> dict[str, Any]:
    return {"base": "origin/main", "head": "working tree (deploy/)",
            "summary": {"add": 1, "change": 1, "remove": 0},
            "changes": [
                {"action": "change", "address": "model.qwen-3-8b", "fields": [
                    {"path": "compute_config.kv_cache_len", "kind": "changed",
                     "before": 300000, "after": 400000, "affects_memory": True}]},
                {"action": "add", "address": "deployment.support/qwen-3-8b_accelerated",
                 "fields": [{"path": "placement.compute_pools", "kind": "added",
                             "before": None, "after": ["pool-2"], "affects_memory": True}]}],
            "memory": [{"deployment": "deployment.support/qwen-3-8b", "pool": "pool-1",
                        "gpu": "H100-80GB",
                        "before": {"total_gib": 59.5, "verdict": "fits"},
                        "after": {"total_gib": 73.2, "usable_gib": 71.3,
                                  "verdict": "does-not-fit", "max_kv_cache_len": 385952},
                        "causes": ["model.qwen-3-8b compute_config.kv_cache_len "
                                   "300000 → 400000"]}],
            "notes": []}


def _real_drift() -> dict[str, Any]:
    findings = [
        {"address": "model.qwen-3-8b", "type": "model", "field": "kv_cache_len",
         "kind": "drift", "last_applied": 300000, "live": 100000, "desired": 300000,
         "message": "changed outside adaptive-deploy; apply restores the configured value",
         "observable": True},
        {"address": "deployment.support/qwen-3-8b_accelerated", "type": "deployment",
         "field": "compute_pools", "kind": "both", "last_applied": ["pool-1", "pool-2"],
         "live": ["pool-1"], "desired": ["pool-2"],
         "message": "changed outside adaptive-deploy and in the configuration",
         "observable": True},
    ]
    return {"format_version": "1.0", "workspace": "prod", "checked_at": "2026-01-02T03:04:05Z",
            "summary": {"drift": 1, "pending": 0, "both": 1}, "findings": findings,
            "unobservable": [], "unmanaged": ["project.playground"], "diagnostics": []}


def _fit_markdown() -> str:
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.render import fit
    from adaptive_deploy.rules.memory import fit_report

    loaded = load_config(Path(__file__).resolve().parents[2] / "examples" / "multi-pool")
    assert loaded.workspace is not None
    return fit.render_markdown(fit_report(loaded.workspace))


DOCUMENTS = {
    "fit": _fit_markdown,
    "plan": lambda: markdown.render(scenario()),
    "drift": lambda: drift.render_markdown(_real_drift(), directory="deploy/"),
    "diff": lambda: configdiff.render_markdown(_diff_doc()),
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_fits_the_comment_width(name: str, tmp_path: Path) -> None:
    result = render_page(DOCUMENTS[name](), tmp_path, name)
    assert result["overflow"] == [], result["overflow"]
    assert result["width"] <= COMMENT_WIDTH


def test_the_old_wide_layout_would_have_been_caught(tmp_path: Path) -> None:
    # The measurement can fail: a seven-column table of long values scrolls at this width.
    wide = ("| kind | address | field | last applied | live | config | note |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n"
            "| drift | `deployment.support/qwen-3-8b_accelerated` | `compute_pools` | "
            "`[\"pool-1\", \"pool-2\"]` | `[\"pool-1\"]` | `[\"pool-2\"]` | changed outside "
            "adaptive-deploy and in the configuration |\n")
    assert render_page(wide, tmp_path, "wide")["overflow"]


def test_injected_values_stay_inside_code(tmp_path: Path) -> None:
    doc = _drift_doc(HOSTILE[6])   # closes a fence, forges the marker, adds an <img>
    result = render_page(drift.render_markdown(doc), tmp_path, "injected")
    dom = result["dom"]
    assert "<img" not in dom and "<!-- adaptive-deploy-plan -->" not in dom
