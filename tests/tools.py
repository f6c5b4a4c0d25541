"""Outside tools some tests drive for real (cmark-gfm, Chromium, yaml-language-server).

Absent outside CI: the test is skipped with the reason and the install command. Under CI
(`CI` set) an absent tool fails the test: `.ci/run` installs them all.
"""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL = {
    "cmark-gfm": "apt-get install -y cmark-gfm",
    "chromium": "apt-get install -y chromium",
    "yaml-language-server": "npm install -g yaml-language-server",
}


ALTERNATIVES = {"chromium": ("chromium", "chromium-browser", "google-chrome")}


def require(tool: str) -> str:
    """The path of `tool`, or skip (fail under CI) saying how to install it."""
    for name in ALTERNATIVES.get(tool, (tool,)):
        found = shutil.which(name)
        if found:
            return found
    reason = f"{tool} is not installed ({INSTALL.get(tool, 'see .ci/run')})"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI must install it (.ci/run)")
    pytest.skip(reason)
