"""Terminal and Markdown injection: values from config files and from the platform cannot change
the shape of what the tool prints (hardening issue, item 9).

Text: a name holding newlines cannot fake a `No changes.` line; ESC / OSC / bidi characters are
shown escaped, never sent. Markdown: a value cannot close a code span or fence, break a table,
start a heading or inject HTML (an HTML comment would forge the sticky-comment marker).

The Markdown checks render with the real cmark-gfm (GitHub's own fork of cmark) with raw HTML
allowed, as GitHub allows it before sanitising, and walk the HTML it produces.
"""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from typing import Any

import pytest

from adaptive_deploy.render import (
    configdiff,
    drift,
    environments,
    escape,
    markdown,
    promotion,
    text,
)
from tests.plan.builders import live, live_deployment, live_model, live_project, plan, snapshot
from tests.plan.builders import workspace as make_workspace
from tests.tools import require

FAKE_END = "No changes. The platform matches the configuration."
MARKER = "<!-- adaptive-deploy-plan -->"
HOSTILE = [
    f"x\n\n{FAKE_END}\n",
    f"x\r{FAKE_END}",
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mred",           # OSC window title, clear screen, colour
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",   # OSC 8 hyperlink
    "abc\u202edcba",                                  # right-to-left override
    "line\u2028separator\x85nel",
    "```\n" + MARKER + "\n<img src=x onerror=alert(1)>\n```",
    "</code></summary></details><script>alert(1)</script>",
    "| a | b |\n| --- | --- |\n# Heading",
    "`` ` ``` ```` *bold* _em_ [link](https://evil.example) <b>bold</b> &amp; $x^2$",
    "- list\n1. item\n> quote\n---",
    "www.evil.example and https://evil.example and a@evil.example",
]


def _plan_doc(value: str) -> dict[str, Any]:
    ws = make_workspace(projects={
        "support": {"name": value, "description": value, "deployments": {
            "m": {"placement": {"compute_pools": ["pool-1"]}}}},
    }, models={"m": {"compute_config": {"tp": 1, "kv_cache_len": 1000}}})
    lv = live(live_model("m", tp=1, kv_cache_len=10), live_project("support", "old"),
              live_project(value, value), live_deployment("support", "m", compute_pools=["p"]))
    st = snapshot({"project.support": {"name": "old"},
                   "deployment.support/m": {"compute_pools": ["p"], "protect": False}})
    doc = plan(ws, lv, st, memory=[{"deployment": "support/m", "pool": "pool-1",
                                    "gpu": value, "usable_gib": 1.0, "total_gib": 2.0,
                                    "verdict": "does-not-fit"}]).to_dict()
    doc["notes"] = [value]
    doc["diagnostics"] = [{"severity": "error", "code": "AD301", "message": value,
                           "file": value, "line": 1, "column": 1, "path": [value]}]
    return doc


def _drift_doc(value: str) -> dict[str, Any]:
    finding = {"address": "project.p", "type": "project", "field": "name", "kind": "drift",
               "last_applied": value, "live": value, "desired": value, "message": value,
               "observable": True}
    return {"format_version": "1.0", "workspace": value, "checked_at": value,
            "summary": {"drift": 1, "pending": 0, "both": 0}, "findings": [finding],
            "unobservable": [{"address": "deployment.p/m", "field": "num_draft_steps",
                              "last_applied": value}],
            "unmanaged": [value], "diagnostics": [{"severity": "warning", "code": "AD404",
                                                   "message": value}]}


def _diff_doc(value: str) -> dict[str, Any]:
    return {"base": value, "head": value, "summary": {"add": 0, "change": 1, "remove": 0},
            "changes": [{"action": "change", "address": "project.p", "fields": [
                {"path": "name", "kind": "changed", "before": value, "after": value}]}],
            "memory": [{"deployment": "deployment.p/m", "pool": value, "gpu": value,
                        "before": {"total_gib": 1.0, "verdict": "fits"},
                        "after": {"total_gib": 2.0, "usable_gib": 3.0, "verdict": "tight"},
                        "causes": [value]}],
            "notes": [value]}


def _promotion_doc(value: str) -> dict[str, Any]:
    return {**_diff_doc(value), "source": value, "target": value,
            "environment_specific": [
                {"address": "model.m", "path": value, "target": value, "source": value,
                 "file": value, "line": 3, "removed": False},
                {"address": value, "path": "", "target": None, "source": {value: value},
                 "file": value, "line": 4, "removed": True}],
            "source_specific": [
                {"address": value, "path": value, "value": {value: [value]}, "file": value,
                 "line": 5, "removed": False},
                {"address": "model.m", "path": "", "value": None, "file": value, "line": 6,
                 "removed": True}],
            "diagnostics": [{"severity": "error", "code": "AD301", "message": value,
                             "file": value, "line": 1, "column": 1, "path": value}]}


def _explain_doc(value: str) -> dict[str, Any]:
    return {"path": value, "defined": True, "value": value, "file": value, "line": 1,
            "column": 1, "layers": [
                {"directory": value, "role": "base", "action": "sets", "value": value,
                 "file": value, "line": 1, "column": 1},
                {"directory": value, "role": "environment", "action": "overrides",
                 "value": [value], "file": value, "line": 2, "column": 1}]}


TEXT_RENDERERS = {
    "plan": lambda v: text.render(_plan_doc(v)),
    "plan-color": lambda v: text.render(_plan_doc(v), color=True),
    "drift": lambda v: drift.render_text(_drift_doc(v)),
    "diff": lambda v: configdiff.render_text(_diff_doc(v)),
    "promotion": lambda v: promotion.render_text(_promotion_doc(v)),
    "explain": lambda v: environments.explain_text(_explain_doc(v)),
    "heading": lambda v: environments.heading({"directory": v, "kind": "environment",
                                               "layers": [{"directory": v}, {"directory": v}]}),
}
MARKDOWN_RENDERERS = {
    "plan": lambda v: markdown.render(_plan_doc(v)),
    "drift": lambda v: drift.render_markdown(_drift_doc(v)),
    "diff": lambda v: configdiff.render_markdown(_diff_doc(v)),
    "promotion": lambda v: promotion.render_markdown(_promotion_doc(v)),
}


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", sorted(TEXT_RENDERERS))
def test_text_output_shows_control_characters_escaped(name: str, value: str) -> None:
    out = TEXT_RENDERERS[name](value)
    if name == "plan-color":   # the renderer's own colour codes are the only escapes
        import re

        out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert not escape.has_control(out.replace("\n", "")), repr(out)
    assert "\r" not in out
    assert FAKE_END not in out.splitlines(), "a value faked the no-changes line"
    if "\x1b" in value:
        assert "\\x1b" in out


class _Walker(HTMLParser):
    """Records elements and comments of rendered HTML, and text outside code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.comments: list[str] = []
        self.stack: list[str] = []
        self.outside_code: list[str] = []
        self.headings = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # cmark-gfm links e-mail addresses whatever their escaping (as GitHub does): a mailto
        # link is not an injection; every other link is.
        if tag == "a" and str(dict(attrs).get("href", "")).startswith("mailto:"):
            return
        self.tags.append(tag)
        self.stack.append(tag)
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and "a" not in self.stack:
            return
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        if "code" not in self.stack and "pre" not in self.stack:
            self.outside_code.append(data)


def _html(md: str) -> str:
    exe = require("cmark-gfm")
    return subprocess.run(
        [exe, "--unsafe", "-e", "table", "-e", "strikethrough", "-e", "autolink",
         "-e", "tagfilter", "--to", "html"],
        input=md, capture_output=True, text=True, check=True, timeout=30,
    ).stdout


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", sorted(MARKDOWN_RENDERERS))
def test_markdown_values_stay_text(name: str, value: str) -> None:
    md = MARKDOWN_RENDERERS[name](value)
    baseline = _Walker()
    baseline.feed(_html(MARKDOWN_RENDERERS[name]("harmless")))
    walker = _Walker()
    walker.feed(_html(md))
    # The value adds no element (no img, script, link, emphasis, heading, list, extra cell).
    assert sorted(walker.tags) == sorted(baseline.tags), (md, walker.tags, baseline.tags)
    assert walker.comments == [] and not md.startswith("<!--")
    assert not any(line.startswith("<!--") for line in md.splitlines())
    assert FAKE_END not in "".join(walker.outside_code).split("\n")


def test_code_span_survives_any_backtick_run() -> None:
    for value in ["`", "``", "a```b", "` x `", " lead", "|"]:
        walker = _Walker()
        walker.feed(_html(f"| h |\n| --- |\n| {escape.md_code(value)} |\n"))
        assert walker.tags.count("code") == 1 and walker.tags.count("td") == 1, value


def test_text_escape_is_visible_and_reversible_enough() -> None:
    assert escape.text("a\nb\x1b[2Jc\u202e") == "a\\nb\\x1b[2Jc\\u202e"
    assert escape.quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert escape.block("line one\nline\x1b two") == "line one\nline\\x1b two"
