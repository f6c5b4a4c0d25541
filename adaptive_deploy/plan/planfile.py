"""Saved plan files: `save`, `load` and the stale check `apply PLANFILE` runs first.

A saved plan is the JSON plan document (`Plan.to_dict()`). It holds `${env:NAME}` templates
where configuration uses them, never resolved values, so it can be kept as a CI artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptive_deploy.errors import PlanFormatError, UsageError
from adaptive_deploy.plan import resources as res
from adaptive_deploy.plan.model import Action, Plan

if TYPE_CHECKING:
    from adaptive_deploy.live import LiveState
    from adaptive_deploy.state.base import StateSnapshot

MAX_PLAN_BYTES = 64 * 1024 * 1024


WORKSPACE_DIR_KEY = "workspace_dir"


def dumps(plan: Plan, *, directory: str | Path | None = None, base: Path | None = None) -> str:
    """The plan as the JSON text a plan file holds.

    `directory` (the workspace directory) is recorded so `apply PLANFILE` finds the
    configuration; relative to `base` (the plan file's folder) when given, so a checkout that
    moves as a whole keeps working.
    """
    data: dict[str, Any] = plan.to_dict()
    if directory is not None:
        d = Path(directory).resolve()
        data[WORKSPACE_DIR_KEY] = os.path.relpath(d, base.resolve()) if base is not None else str(d)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def save(plan: Plan, path: str | Path, *, directory: str | Path | None = None) -> Path:
    """Write the plan to `path` atomically (temp file + rename); return the path.

    `directory`: the workspace directory, recorded for `directory_of`.
    """
    target = Path(path)
    text = dumps(plan, directory=directory, base=target.parent)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write the plan to {target}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def directory_of(path: str | Path) -> Path:
    """The workspace directory a saved plan was made for (recorded by `save`); the plan
    file's own folder when none was recorded."""
    p = Path(path)
    data = _read_json(p)
    recorded = data.get(WORKSPACE_DIR_KEY) if isinstance(data, dict) else None
    if not isinstance(recorded, str) or not recorded:
        return p.parent
    return (p.parent / recorded).resolve()


def digest(plan: Plan | Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a plan document (for the apply history)."""
    data = plan.to_dict() if isinstance(plan, Plan) else dict(plan)
    data.pop(WORKSPACE_DIR_KEY, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def load(path: str | Path) -> Plan:
    """Read a saved plan; errors.PlanFormatError when unreadable or of an unknown version."""
    p = Path(path)
    data = _read_json(p)
    try:
        return Plan.from_dict(data)
    except PlanFormatError as exc:
        raise PlanFormatError(f"{p}: {exc}") from None


def _read_json(p: Path) -> Any:
    try:
        if p.stat().st_size > MAX_PLAN_BYTES:
            raise PlanFormatError(f"{p}: not a plan file (larger than {MAX_PLAN_BYTES} bytes)")
        return json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFormatError(f"{p}: cannot read the plan file: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFormatError(f"{p}: not a plan file (invalid JSON: {exc})") from None


def stale_reasons(
    plan: Plan | Mapping[str, Any],
    live: LiveState,
    config_digest: str,
    state: StateSnapshot | None = None,
) -> list[str]:
    """Why a saved plan can no longer be applied as shown; empty when it still holds.

    Every change whose resource's live fingerprint differs from the one planned against, the
    configuration digest when the configuration changed and, when `state` is given, a state
    of another lineage or serial (another apply ran since the plan, as Terraform checks).
    """
    if not isinstance(plan, Plan):
        plan = Plan.from_dict(dict(plan))
    reasons: list[str] = []
    if state is not None:
        if plan.lineage is not None and state.lineage != plan.lineage:
            reasons.append(f"state lineage changed since the plan ({plan.lineage} → "
                           f"{state.lineage}): the plan was made for another state")
        elif plan.serial is not None and state.serial != plan.serial:
            reasons.append(f"state changed since the plan (serial {plan.serial} → "
                           f"{state.serial})")
    if config_digest != plan.config_digest:
        reasons.append(
            f"configuration changed since the plan (digest {_short(plan.config_digest)} → "
            f"{_short(config_digest)})"
        )
    observed = res.observed(live)
    for change in plan.changes:
        if change.action is Action.FORGET and change.type != "deployment":
            continue  # forgetting touches only state; the live object does not matter
        if res.fingerprint(observed.get(change.address)) != change.live_fingerprint:
            reasons.append(f"{change.address}: changed on the platform since the plan")
    return reasons


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]
