"""The plan as JSON: the versioned plan document itself, with sensitive values redacted.

Key order is the document's own (format_version first), stable across runs. A saved plan file
(`plan.planfile.save`) keeps `${env:NAME}` templates; this display form replaces every
sensitive value with "(sensitive)".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from adaptive_deploy.plan.model import redact


def render(plan: Mapping[str, Any]) -> str:
    """The redacted plan document as indented JSON text ending with a newline."""
    return json.dumps(redact(dict(plan)), indent=2, ensure_ascii=False) + "\n"
