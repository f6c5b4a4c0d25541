"""Regenerate docs/memory-calibration.md from tests/data/engine-memory.tsv.

    python scripts/memory_calibration.py           # write the file
    python scripts/memory_calibration.py --check   # exit 1 when the file is not current
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "tests" / "data" / "engine-memory.tsv"
DOC = ROOT / "docs" / "memory-calibration.md"


def render() -> str:
    from adaptive_deploy.rules import calibration

    return calibration.render_markdown(calibration.evaluate(calibration.load(DATASET)))


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = DOC.read_text("utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is not current: run python scripts/memory_calibration.py")
            return 1
        return 0
    DOC.write_text(text, "utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
