"""config/hint.py: the platform settings guessed before the configuration loads.

The guess is only ever used when it equals what the full load validates (engine.open_session);
these tests check it is right where it answers, and that it gives up (None) where a cheap
read cannot know."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_deploy.config.hint import platform_hint
from adaptive_deploy.config.loader import load_config
from adaptive_deploy.config.models import PlatformConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

WORKSPACE = "version: 1\nworkspace: w\n"
PLATFORM = "platform:\n  base_url: https://adaptive.example.com\n  request_timeout_s: 12\n"
MODELS = "models:\n  qwen-3-8b:\n    compute_config: {tp: 1, kv_cache_len: 8192}\n"


def write(directory: Path, **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_bytes(text.encode())
    return directory


def agrees_with_load(directory: Path) -> PlatformConfig | None:
    """The hint, checked against the full load whenever the hint answers."""
    hint = platform_hint(directory)
    loaded = load_config(directory)
    if hint is not None and loaded.workspace is not None:
        assert hint == loaded.workspace.platform
    return hint


def test_platform_block_of_one_file(tmp_path: Path) -> None:
    ws = write(tmp_path, workspace__yaml=WORKSPACE + PLATFORM, models__yaml=MODELS)
    hint = agrees_with_load(ws)
    assert hint == PlatformConfig(base_url="https://adaptive.example.com", request_timeout_s=12)


def test_no_platform_block_is_the_defaults(tmp_path: Path) -> None:
    ws = write(tmp_path, workspace__yaml=WORKSPACE, models__yaml=MODELS)
    assert agrees_with_load(ws) == PlatformConfig()


def test_quoted_key_leading_document_marker_comments_and_bom(tmp_path: Path) -> None:
    text = ("\ufeff# the workspace\n---\n" + WORKSPACE
            + '"platform":\n  max_retries: 2  # fewer\n')
    ws = write(tmp_path, workspace__yml=text)
    assert agrees_with_load(ws) == PlatformConfig(max_retries=2)


def test_one_file_as_target(tmp_path: Path) -> None:
    ws = write(tmp_path, a__yaml=WORKSPACE + PLATFORM, b__yaml="platform: {max_retries: 1}\n")
    assert platform_hint(ws / "a.yaml") == PlatformConfig(
        base_url="https://adaptive.example.com", request_timeout_s=12)


def test_hidden_and_other_files_are_not_read(tmp_path: Path) -> None:
    ws = write(tmp_path, workspace__yaml=WORKSPACE + PLATFORM,
               notes__txt="platform: {max_retries: 1}\n")
    (ws / ".pre-commit-config.yaml").write_text("platform:\n  max_retries: 1\n")
    assert agrees_with_load(ws) == PlatformConfig(
        base_url="https://adaptive.example.com", request_timeout_s=12)


@pytest.mark.parametrize("files", [
    # An overlay: the settings may come from the base directory.
    {"workspace__yaml": "base: ../base\n" + PLATFORM},
    {"workspace__yaml": WORKSPACE + "remove: [models.x]\n"},
    # Two files set it (an error of the full load).
    {"a__yaml": WORKSPACE + PLATFORM, "b__yaml": "platform:\n  max_retries: 1\n"},
    # Top levels the line scan cannot follow.
    {"workspace__yaml": "{version: 1, workspace: w, platform: {max_retries: 1}}\n"},
    {"workspace__yaml": WORKSPACE + "? platform\n: {max_retries: 1}\n"},
    {"workspace__yaml": "defaults: &d {max_retries: 1}\n" + WORKSPACE + "<<: {platform: *d}\n"},
    {"workspace__yaml": WORKSPACE + PLATFORM + "---\nplatform: {max_retries: 1}\n"},
    {"workspace__yaml": "!!map\n" + WORKSPACE},
    # The block itself is not valid settings, or not a mapping, or the file does not parse.
    {"workspace__yaml": WORKSPACE + "platform:\n  request_timeout_s: -1\n"},
    {"workspace__yaml": WORKSPACE + "platform:\n  api_key: secret\n"},
    {"workspace__yaml": WORKSPACE + "platform: https://adaptive.example.com\n"},
    {"workspace__yaml": WORKSPACE + "platform:\n  base_url: [unclosed\n"},
])
def test_gives_up_where_a_cheap_read_cannot_know(tmp_path: Path, files: dict[str, str]) -> None:
    assert platform_hint(write(tmp_path / "ws", **files)) is None


def test_a_file_larger_than_the_loader_accepts_is_not_read(tmp_path: Path) -> None:
    from adaptive_deploy.config.loader import MAX_FILE_BYTES

    ws = write(tmp_path, workspace__yaml=WORKSPACE + PLATFORM)
    (ws / "zz.yaml").write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    assert platform_hint(ws) is None


def test_missing_target(tmp_path: Path) -> None:
    assert platform_hint(tmp_path / "nothing-here") is None


@pytest.mark.parametrize("directory", sorted(
    {p.parent for p in EXAMPLES.rglob("*.yaml") if ".adaptive-deploy" not in p.parts},
    key=str), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_directory(directory: Path) -> None:
    """The shipped examples (workspaces, environments, bases): wherever the hint answers it
    equals the validated settings; a plain workspace always gets an answer."""
    hint = agrees_with_load(directory)
    loaded = load_config(directory)
    if loaded.kind == "workspace" and loaded.workspace is not None:
        assert hint is not None
