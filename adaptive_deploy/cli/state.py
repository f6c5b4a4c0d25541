"""`adaptive-deploy state`: inspect a workspace's state and release its lock.

    state list [DIR]            addresses with type, platform id, last update; lineage, serial
    state show ADDR [DIR]       one record: applied and observed values, fingerprint
    state history [DIR]         the apply history, newest first
    state unlock LOCK_ID [DIR]  release a lock left by a process that is gone
    state repoint [DIR]         the state now belongs to the configured platform
    state init [DIR] [--force]  create the state where there is none; --force starts an empty
                                one over a damaged state (kept aside, or its history kept)

DIR holds the configuration; its `workspace` and `state` keys say which state to open. Heavy
imports (the config loader pulls in pydantic and jsonschema) happen inside the commands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from adaptive_deploy.cli.common import F, format_option, handle_errors

if TYPE_CHECKING:
    from adaptive_deploy.state.base import (
        HistoryEntry,
        Locker,
        LockInfo,
        ResourceRecord,
        StateStore,
    )

def _dir_argument() -> Callable[[F], F]:
    return click.argument("directory", default=".", type=click.Path(file_okay=False))


def _workspace(directory: str) -> Any:
    """The validated configuration of DIR (its `workspace` and `state` keys matter here)."""
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.errors import ConfigError, UsageError

    path = Path(directory)
    if not path.is_dir():
        raise UsageError(f"{directory}: no such directory")
    loaded = load_config(path)
    if loaded.kind == "base" and loaded.as_base is not None:
        from adaptive_deploy.engine import refuse_base

        refuse_base(loaded, directory)
    if loaded.workspace is None:
        if not loaded.files:
            raise UsageError(f"{directory}: no *.yaml or *.yml configuration files")
        raise ConfigError("the configuration is invalid", loaded.diagnostics)
    return loaded.workspace


@contextmanager
def _opened(directory: str) -> Iterator[tuple[str, StateStore, Locker]]:
    """Load the workspace name and state settings from DIR, open the state, close it after."""
    from adaptive_deploy.state import open_state

    ws = _workspace(directory)
    store, locker = open_state(ws.state, ws.workspace, Path(directory))
    try:
        yield ws.workspace, store, locker
    finally:
        store.close()


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _lock_dict(lock: LockInfo | None) -> dict[str, Any] | None:
    if lock is None:
        return None
    out = asdict(lock)
    out.pop("replaced", None)
    out["created_at"] = _iso(lock.created_at)
    out["age_s"] = round(lock.age_s)
    return out


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip()]
    lines += [fmt.format(*row).rstrip() for row in rows]
    return lines


def _record_dict(record: ResourceRecord) -> dict[str, Any]:
    out = asdict(record)
    out["updated_at"] = _iso(record.updated_at)
    return out


def _history_dict(entry: HistoryEntry) -> dict[str, Any]:
    out = asdict(entry)
    out["started_at"] = _iso(entry.started_at)
    out["finished_at"] = _iso(entry.finished_at)
    return out


@click.group("state")
def command() -> None:
    """Inspect state and release locks."""


@command.command("list")
@_dir_argument()
@format_option("text", "json")
@handle_errors
def list_(directory: str, fmt: str) -> None:
    """List the resources recorded in the workspace's state."""
    from adaptive_deploy import identity
    from adaptive_deploy.addresses import sort_addresses

    with _opened(directory) as (workspace, store, locker):
        snap = store.read()
        lock = locker.current()
    addresses = sort_addresses(list(snap.resources))
    if fmt == "json":
        doc = {
            "workspace": workspace, "lineage": snap.lineage, "serial": snap.serial,
            "platform": snap.platform, "lock": _lock_dict(lock),
            "resources": [
                {"address": a, "type": snap.resources[a].type,
                 "platform_id": snap.resources[a].platform_id,
                 "updated_at": _iso(snap.resources[a].updated_at)}
                for a in addresses
            ],
        }
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    click.echo(f"Workspace {workspace}: lineage {snap.lineage}, serial {snap.serial}")
    click.echo("Platform: " + (identity.describe(snap.platform) if snap.platform
                               else "not recorded yet (recorded by the first apply)"))
    click.echo(f"Lock: {lock.describe()}" if lock else "Lock: none")
    if not addresses:
        click.echo("No resources in state.")
        return
    rows = [[a, snap.resources[a].type, snap.resources[a].platform_id
             or ("(create pending)" if snap.resources[a].pending else "-"),
             _when(snap.resources[a].updated_at)] for a in addresses]
    click.echo("")
    for line in _table(["ADDRESS", "TYPE", "PLATFORM ID", "UPDATED"], rows):
        click.echo(line)
    click.echo(f"\n{len(addresses)} resource(s).")


@command.command("show")
@click.argument("address")
@_dir_argument()
@format_option("text", "json")
@handle_errors
def show(address: str, directory: str, fmt: str) -> None:
    """Show one resource's record: applied and observed values, fingerprint."""
    from adaptive_deploy.addresses import Address
    from adaptive_deploy.errors import StateError, UsageError

    try:
        address = str(Address.parse(address))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with _opened(directory) as (workspace, store, _):
        snap = store.read()
    record = snap.resources.get(address)
    if record is None:
        raise StateError(f"{address} is not in the state of workspace '{workspace}'")
    if fmt == "json":
        click.echo(json.dumps(_record_dict(record), indent=2, sort_keys=True))
        return
    click.echo(f"# {record.address}")
    click.echo(f"type:         {record.type}")
    click.echo(f"platform id:  {record.platform_id or '-'}")
    click.echo(f"updated:      {_when(record.updated_at)}")
    click.echo(f"fingerprint:  {record.fingerprint}")
    for name, value in (("applied", record.applied), ("observed", record.observed)):
        click.echo(f"{name}:")
        for line in json.dumps(value, indent=2, sort_keys=True).splitlines():
            click.echo(f"  {line}")


@command.command("history")
@_dir_argument()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Show at most this many entries.")
@format_option("text", "json")
@handle_errors
def history(directory: str, limit: int, fmt: str) -> None:
    """Show the workspace's apply history, newest first."""
    with _opened(directory) as (workspace, store, _):
        entries = store.history(limit)
    if fmt == "json":
        click.echo(json.dumps({"workspace": workspace,
                               "history": [_history_dict(e) for e in entries]},
                              indent=2, sort_keys=True))
        return
    if not entries:
        click.echo(f"No history for workspace {workspace}.")
        return
    from adaptive_deploy.render.escape import text as esc

    rows = [[_when(e.started_at), _duration(e.started_at, e.finished_at), esc(e.who),
             esc(e.operation), esc(e.result),
             (e.plan_digest or "-").removeprefix("sha256:")[:12], _summary_text(e.summary)]
            for e in entries]
    for line in _table(["STARTED", "TOOK", "WHO", "OPERATION", "RESULT", "PLAN", "SUMMARY"],
                       rows):
        click.echo(line)


_SUMMARY_WORDS = (("add", "added"), ("change", "changed"), ("destroy", "destroyed"),
                  ("run", "ran"), ("forget", "forgotten"), ("failed", "failed"))


def _summary_text(summary: dict[str, Any] | None) -> str:
    """`3 added, 1 changed` — the apply summary in words; counts of zero are left out."""
    if not summary:
        return "-"
    known = [f"{summary[k]} {word}" for k, word in _SUMMARY_WORDS if summary.get(k)]
    other = [f"{v} {k}" for k, v in sorted(summary.items())
             if k not in dict(_SUMMARY_WORDS) and v]
    return ", ".join(known + other) or "no changes"


def _duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = max(0.0, end - start)
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


@command.command("unlock")
@click.argument("lock_id")
@_dir_argument()
@handle_errors
def unlock(lock_id: str, directory: str) -> None:
    """Release the workspace lock LOCK_ID, e.g. one left by a process that is gone."""
    with _opened(directory) as (workspace, _, locker):
        holder = locker.current()
        locker.force_unlock(lock_id)
    who = f" ({holder.describe()})" if holder is not None and holder.id == lock_id else ""
    click.echo(f"Released lock {lock_id} on workspace {workspace}{who}.")


@command.command("repoint")
@_dir_argument()
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for the workspace lock.")
@handle_errors
def repoint(directory: str, lock_timeout: float) -> None:
    """Record the platform the configuration points at as the one this state belongs to.

    Use it when the platform is really the same one, moved to another URL or restored so that
    its identity changed; plan refuses a state of another platform until then. Resources in
    state are still matched by platform id: objects the new platform does not have show as
    deleted outside adaptive-deploy. For a different platform, give it a state of its own
    instead (a fresh copy of the workspace, another workspace name or state.path)."""
    import asyncio

    from adaptive_deploy import engine, identity

    async def run() -> tuple[Any, Any, str]:
        session = await engine.open_session(directory)
        try:
            if session.platform.notice:
                click.echo(session.platform.notice, err=True)
            previous, current = await engine.repoint(session, lock_timeout)
            return previous, current, session.workspace.workspace
        finally:
            await session.close()

    previous, current, workspace = asyncio.run(run())
    if previous is not None and identity.same_platform(previous, current):
        click.echo(f"The state of workspace {workspace} already belongs to "
                   f"{current.describe()}; its record is refreshed.")
        return
    was = identity.describe(previous) if previous else "no platform recorded"
    click.echo(f"The state of workspace {workspace} now belongs to {current.describe()} "
               f"(was: {was}).")


@command.command("init")
@_dir_argument()
@click.option("--force", is_flag=True,
              help="Start an empty state over a damaged one (local: the damaged file is kept "
                   "aside; postgres: missing tables are recreated and the history kept).")
@handle_errors
def init(directory: str, force: bool) -> None:
    """Create the workspace's state where there is none.

    A state is otherwise created on first use only when nothing shows one existed; a damaged
    one is refused, and --force is the explicit way to start again (then run import)."""
    from adaptive_deploy.state import init_state

    ws = _workspace(directory)
    done = init_state(ws.state, ws.workspace, Path(directory), force=force)
    click.echo(done[:1].upper() + done[1:] + ".")
