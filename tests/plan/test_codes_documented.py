"""Every planner code is documented in the README's diagnostic-code table."""

from __future__ import annotations

import re
from pathlib import Path

from adaptive_deploy.plan.planner import CODES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_plan_codes_are_documented() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Plan and apply (AD5xx)"):]
    for code in CODES:
        assert f"| `{code}` |" in section, f"{code} missing from the README"
    assert sorted(re.findall(r"\| `(AD5\d\d)` \|", text)) == sorted(CODES)
