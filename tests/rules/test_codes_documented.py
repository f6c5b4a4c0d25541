"""Every rule code is documented in the Rules section of README.md."""

from __future__ import annotations

import re
from pathlib import Path

from adaptive_deploy.rules.codes import CODES

DOC = Path(__file__).resolve().parents[2] / "README.md"


def test_rule_codes_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    rules = text[text.index("## Rules"):]
    for code in CODES:
        assert f"| `{code}` |" in rules, f"{code} missing from README.md"


def test_rule_codes_are_in_their_ranges_and_unique() -> None:
    for code in CODES:
        assert re.fullmatch(r"AD[34]\d\d", code), code
    documented = re.findall(r"\| `(AD[34]\d\d)` \|", DOC.read_text(encoding="utf-8"))
    assert sorted(documented) == sorted(CODES)
