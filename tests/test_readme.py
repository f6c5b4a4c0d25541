"""README stays true: every command is in the commands table, and the tour's output is the
tool's real output (regenerate the tour from a fresh copy when this fails)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from adaptive_deploy.cli.main import _COMMANDS
from tests.e2e.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_every_command_is_in_the_commands_table() -> None:
    table = _section("Commands")
    for name in _COMMANDS:
        assert re.search(rf"^\| `{name}[ `]", table, re.M), f"{name} missing from README"


def _tour_outputs() -> dict[str, list[str]]:
    """`$ adaptive-deploy ...` line → the output lines under it, from the tour's blocks; a
    command shown twice keeps its first output."""
    pairs: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", _section("A short tour"), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                pairs.append((line[2:], []))
            elif pairs:
                pairs[-1][1].append(line)
    outputs: dict[str, list[str]] = {}
    for command, lines in pairs:
        outputs.setdefault(command, _trim(lines))
    return outputs


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_tour_shows_real_output(tmp_path: Path) -> None:
    ws = tmp_path / "examples" / "quickstart"
    shutil.copytree(ROOT / "examples" / "quickstart", ws,
                    ignore=shutil.ignore_patterns(".adaptive-deploy"))
    tour = _tour_outputs()
    validate = run_cli("validate", "examples/quickstart", cwd=tmp_path)
    assert tour["adaptive-deploy validate examples/quickstart"] == validate.out.splitlines()
    plan = run_cli("plan", "examples/quickstart", cwd=tmp_path)
    first_plan = tour["adaptive-deploy plan examples/quickstart"]
    assert first_plan == _trim((plan.err + plan.out).splitlines())
    config = ws / "adaptive-deploy.yaml"
    config.write_text(config.read_text().replace("kv_cache_len: 300000", "kv_cache_len: 340000"))
    fit = run_cli("fit", "examples/quickstart", cwd=tmp_path)
    assert tour["adaptive-deploy fit examples/quickstart"] == _trim(fit.out.splitlines())
