"""The `platform` settings of a configuration, guessed cheaply before it is loaded.

`plan`, `drift` and `status` start reading the platform while the configuration is still
being loaded and validated (engine.open_session, `read_ahead`): at 50,000 deployments the
platform's answer and the local load take seconds each, and they need not wait for each
other. The read needs the platform settings first, and loading them exactly means loading
everything. So this module guesses them from the one file that sets `platform` at the top
level, reading nothing else, and gives up (None) whenever the guess could be wrong for a
reason it can see:

- a file holds an overlay directive (`base:` / `remove:` at the top level: the settings may
  come from another directory), a YAML merge key (`<<:`) or a top level that is not a block
  mapping (flow style, complex keys, several documents);
- more than one file sets `platform` (an error of the full load anyway), or that file does
  not parse, or its `platform` is not valid `PlatformConfig` data;
- a file is larger than the loader accepts.

A guess is never trusted: the caller compares it with the validated configuration's own
`platform` and throws the read away when they differ (then reads again, as without the
guess). What a wrong guess can cost is one read-only query, sent to a URL the configuration
files or `ADAPTIVE_BASE_URL` name, with the key the guessed settings name.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adaptive_deploy.config.loader import MAX_FILE_BYTES, YAML_SUFFIXES
from adaptive_deploy.config.models import PlatformConfig

# A top-level `platform` key (plain or quoted), in block style.
_PLATFORM = re.compile(rb"""^(?:platform|"platform"|'platform')[ \t]*:""", re.M)
# What the guess cannot follow: overlay directives, merge keys, flow or complex top levels,
# explicit document markers after the first (several documents), tags and anchors at the top.
_GIVE_UP = re.compile(
    rb"""^(?:(?:base|remove|"base"|"remove"|'base'|'remove'|<<)[ \t]*:|[{\[?&*!|>%@`-])""",
    re.M,
)
_DOCUMENT_START = re.compile(rb"^---", re.M)


def platform_hint(target: Path) -> PlatformConfig | None:
    """The `platform` settings the configuration at `target` (a directory or one file)
    most likely has, or None when a cheap read cannot tell (see the module docstring)."""
    try:
        if target.is_dir():
            # The loader's files: *.yaml / *.yml, hidden ones left out, in name order.
            files = sorted(p for p in target.iterdir()
                           if p.name.endswith(YAML_SUFFIXES) and not p.name.startswith(".")
                           and p.is_file())
        elif target.is_file():
            files = [target]
        else:
            return None
        found: dict[str, object] | None = None
        for path in files:
            if path.stat().st_size > MAX_FILE_BYTES:
                return None   # the loader refuses it; nothing here reads it whole first
            data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")   # a UTF-8 BOM
            if _GIVE_UP.search(_strip_first_document_start(data)):
                return None
            if not _PLATFORM.search(data):
                continue
            if found is not None:
                return None
            doc = yaml.load(data, Loader=yaml.CSafeLoader)
            block = doc.get("platform") if isinstance(doc, dict) else None
            if not isinstance(block, dict):
                return None
            found = block
        return PlatformConfig.model_validate(found or {})
    except (OSError, ValueError, yaml.YAMLError):
        # ValueError covers pydantic's ValidationError and undecodable text.
        return None


def _strip_first_document_start(data: bytes) -> bytes:
    """`data` without a leading `---` line (one document may start with it; a second
    marker still makes the guess give up)."""
    match = _DOCUMENT_START.search(data)
    if match is None:
        return data
    head = data[:match.start()]
    if any(line.strip() and not line.lstrip().startswith(b"#") for line in head.splitlines()):
        return data   # content before it: this marker separates two documents
    end = data.find(b"\n", match.end())
    return data[:match.start()] + (b"" if end < 0 else data[end:])
