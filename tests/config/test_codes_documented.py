"""Every stage-1 code is documented in README.md, and codes are well formed."""

from __future__ import annotations

import re
from pathlib import Path

from adaptive_deploy.config.codes import CODES

DOC = Path(__file__).resolve().parents[2] / "README.md"


def test_codes_in_range_and_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "## Loading and structure" in text
    for code, title in CODES.items():
        assert re.fullmatch(r"AD[12]\d\d", code), code
        assert title
        assert f"| `{code}` |" in text, f"{code} missing from README.md"
