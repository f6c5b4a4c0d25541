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


def _console_outputs(section: str) -> list[tuple[str, list[str]]]:
    """(`adaptive-deploy ...` command, output lines) of every console block of a section."""
    pairs: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", _section(section), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                pairs.append((line[2:].split("  #")[0].strip(), []))
            elif pairs:
                pairs[-1][1].append(line)
    return [(command, _trim(lines)) for command, lines in pairs if lines]


def _shown_in(shown: list[str], real: list[str]) -> bool:
    """Whether `real` reads as `shown`, where a `...` line stands for lines left out: the
    pieces between them appear whole and in order, the first at the start, the last at the end."""
    pieces: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == "...":
            pieces.append([])
        else:
            pieces[-1].append(line)
    first, *middle, last = pieces if len(pieces) > 1 else [pieces[0], []]
    if len(pieces) == 1:
        return real == first
    if real[:len(first)] != first:
        return False
    at = len(first)
    for piece in middle:
        found = next((j for j in range(at, len(real) - len(piece) + 1)
                      if real[j:j + len(piece)] == piece), None)
        if found is None:
            return False
        at = found + len(piece)
    return not last or (len(real) - len(last) >= at and real[len(real) - len(last):] == last)


def test_environments_section_shows_real_output(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "environments", tmp_path / "examples" / "environments",
                    ignore=shutil.ignore_patterns(".adaptive-deploy"))
    checked = 0
    for command, shown in _console_outputs("Environments"):
        args = command.split()[1:]
        expanded = [str(p.relative_to(tmp_path)) if "*" in a else a for a in args
                    for p in (sorted(tmp_path.glob(a)) if "*" in a else [tmp_path])]
        result = run_cli(*expanded, cwd=tmp_path)
        real = _trim((result.err + result.out).splitlines())
        assert _shown_in(shown, real), f"README differs from `{command}`:\n" + "\n".join(real)
        checked += 1
    assert checked >= 3


def test_shown_in_reads_elisions() -> None:
    real = ["a", "b", "c", "d", "e"]
    assert _shown_in(["a", "b", "c", "d", "e"], real)
    assert _shown_in(["a", "  ...", "d", "e"], real)
    assert _shown_in(["a", "...", "c", "..."], real)
    assert not _shown_in(["a", "c"], real)
    assert not _shown_in(["a", "...", "d"], real)
    assert not _shown_in(["b", "...", "e"], real)
    assert not _shown_in(["a", "...", "c", "b", "..."], real)
