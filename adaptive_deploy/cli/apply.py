"""`adaptive-deploy apply`: execute a fresh or saved plan, waiting until deployments are ONLINE."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from adaptive_deploy.cli.common import (
    complete_address,
    format_option,
    handle_errors,
    make_console,
    use_color,
)
from adaptive_deploy.cli.plan import echo_notice, parse_addresses, render_plan


def _summary_line(result: Any, refresh_only: bool = False) -> str:
    counts = result.summary()
    if refresh_only:
        n = len(result.results)
        return (f"Refresh complete! {n} state record{'s' if n != 1 else ''} updated to match "
                "the platform; nothing was changed on the platform.")
    line = (
        f"Apply complete! Resources: {counts['add']} added, {counts['change']} changed, "
        f"{counts['destroy']} destroyed"
    )
    if counts.get("run"):
        line += f", {counts['run']} ran"
    if counts.get("forget"):
        line += f", {counts['forget']} forgotten"
    return line + "."



@click.command("apply")
@click.argument("target", default=".", metavar="[DIR | PLANFILE]", type=click.Path())
@click.option("--auto-approve", is_flag=True, help="Skip the interactive approval.")
@click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Resource actions run at once.")
@click.option("--allow-destroy", is_flag=True, help="Allow deletes when not interactive.")
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for the workspace lock.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", shell_complete=complete_address,
              help="Apply only ADDR and what it depends on.")
@click.option("--replace", "replace", multiple=True, metavar="ADDR", shell_complete=complete_address,
              help="Force ADDR to be re-created or re-run.")
@click.option("--refresh-only", is_flag=True, help="Update state to match live; change nothing on the platform.")
@click.option("--destroy", is_flag=True, help="Remove everything this workspace manages (same as `destroy`).")
@click.option("--dir", "config_dir", type=click.Path(file_okay=False),
              help="With a PLANFILE: the configuration directory (default: the one it was planned for).")
@format_option("text", "json")
@handle_errors
def command(
    target: str, auto_approve: bool, parallelism: int, allow_destroy: bool, lock_timeout: float,
    targets: tuple[str, ...], replace: tuple[str, ...], refresh_only: bool, destroy: bool,
    config_dir: str | None, fmt: str,
) -> None:
    """Apply the configuration in DIR (planning first), or exactly a saved PLANFILE.
    """
    run_apply(target, auto_approve=auto_approve, parallelism=parallelism,
              allow_destroy=allow_destroy, lock_timeout=lock_timeout, targets=targets,
              replace=replace, refresh_only=refresh_only, destroy=destroy,
              config_dir=config_dir, fmt=fmt)


def run_apply(
    target: str, *, auto_approve: bool, parallelism: int, allow_destroy: bool,
    lock_timeout: float, targets: tuple[str, ...], replace: tuple[str, ...],
    refresh_only: bool, destroy: bool, config_dir: str | None, fmt: str,
) -> None:
    """The body of `apply` and `destroy` (the same safety flags, prompts and summary)."""
    import asyncio

    from adaptive_deploy import engine
    from adaptive_deploy.errors import ApplyError, UsageError

    path = Path(target)
    saved: Any = None
    saved_digest: str | None = None
    directory: Path = Path(config_dir) if config_dir else path
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        if targets or replace or refresh_only or destroy:
            raise UsageError("--target, --replace, --refresh-only and --destroy belong to the "
                             "plan, not to `apply PLANFILE`")
        saved, directory, saved_digest = engine.load_plan(path, config_dir)
    options = engine.PlanOptions(
        targets=parse_addresses(targets, "--target"),
        replace=parse_addresses(replace, "--replace"),
        refresh_only=refresh_only,
        destroy=destroy,
    )
    if refresh_only and destroy:
        raise UsageError("--refresh-only and --destroy cannot be combined")
    interactive = sys.stdin.isatty() and fmt == "text"
    if saved is None and not auto_approve and not interactive:
        raise UsageError(
            "apply is not interactive here: pass --auto-approve, or apply a saved plan "
            "(adaptive-deploy plan --out FILE, then adaptive-deploy apply FILE)"
        )

    warnings: dict[str, list[str]] = {}   # the platform's, by address (JSON view)

    async def run() -> tuple[dict[str, Any], Any]:
        session = await engine.open_session(directory)
        lock = None
        try:
            echo_notice(session.platform.notice)
            lock = session.locker.acquire("apply", timeout_s=lock_timeout)
            if lock.replaced is not None:
                click.echo(f"Took over a stale {lock.replaced.describe()} (the process is gone).",
                           err=True)
            outcome = await engine.make_plan(session, options)
            if saved is not None:
                engine.check_not_stale(engine.stale_reasons(session, saved, outcome))
                plan_dict = saved.to_dict()
            else:
                plan_dict = outcome.plan.to_dict()
                if fmt == "text":
                    rendered = render_plan(plan_dict, "text")
                    click.echo(rendered, nl=not rendered.endswith("\n"))
            if not plan_dict.get("applyable", True):
                raise UsageError("the plan cannot be applied; fix the errors above first")
            destroys = [c["address"] for c in plan_dict["changes"] if c["action"] == "delete"]
            models = sorted({c["deletes_model"] for c in plan_dict["changes"]
                             if c.get("deletes_model")})
            deleted = _destroy_text(destroys, models)
            if (destroys or models) and not allow_destroy and not interactive:
                raise UsageError(
                    f"the plan destroys {deleted}; pass --allow-destroy to apply it "
                    "non-interactively"
                )
            if saved is None and not auto_approve:
                click.echo("\nDo you want to perform these actions?")
                if destroys or models:
                    click.echo(f"  This destroys {deleted}")
                answer = _confirm("  Only 'yes' will be accepted to approve")
                if answer is None:
                    raise UsageError("Apply cancelled (interrupted at the prompt): nothing was "
                                     "changed and the lock is released.")
                if answer.strip() != "yes":
                    raise UsageError("Apply cancelled.")
            if fmt == "text":
                click.echo("")
            hooks = _hooks(fmt, warnings)
            from adaptive_deploy.plan import planfile

            result = await engine.apply_changes(
                session, plan_dict, outcome.live, hooks, parallelism=parallelism,
                plan_digest=saved_digest or planfile.digest(plan_dict),
            )
            return plan_dict, result
        finally:
            if lock is not None:
                session.locker.release(lock)
            await session.close()

    _plan, result = asyncio.run(run())
    if fmt == "json":
        click.echo(json.dumps({
            "format_version": "1.0",
            "summary": result.summary(),
            "results": [
                {"address": r.address, "action": r.action, "ok": r.ok, "error": r.error,
                 "skipped": r.skipped, "elapsed_s": round(r.elapsed_s, 3),
                 "warnings": warnings.get(r.address, [])}
                for r in result.results
            ],
        }, indent=2))
    if result.stopped_by is not None:
        # The platform refused the key: its words, naming the key's env var, say it all.
        raise result.stopped_by
    if result.failed:
        failed = result.failed
        if fmt == "text":
            click.echo("")
            for r in failed:
                click.echo(f"Error: {r.address}: {r.error}", err=True)
        raise ApplyError(
            f"apply finished with {len(failed)} failed resource action(s); what succeeded is "
            "recorded in state — run plan to see what is left"
        )
    if fmt == "text":
        click.echo("\n" + _summary_line(result, bool(_plan.get("options", {}).get("refresh_only"))))


def _destroy_text(destroys: list[str], models: list[str]) -> str:
    """`2 resource(s) (a, b) and, with their last project binding, model m (deleted from
    storage by the platform)`."""
    text = f"{len(destroys)} resource(s) ({', '.join(destroys)})"
    if models:
        text += (f" and, with their last project binding, model(s) {', '.join(models)} "
                 "(deleted from storage by the platform)")
    return text


def _confirm(text: str) -> str | None:
    """The answer to the approval prompt; None when interrupted (Ctrl-C, end of input).

    The prompt runs inside the event loop, where asyncio's SIGINT handler only schedules a
    cancellation, so a blocking read would ignore Ctrl-C until Enter. While prompting, Ctrl-C
    raises at once; the caller's cleanup then releases the lock."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        answer: str = click.prompt(text, default="", show_default=False)
        return answer
    except (click.Abort, KeyboardInterrupt, EOFError):
        click.echo("", err=True)
        return None
    finally:
        signal.signal(signal.SIGINT, previous)


def _hooks(fmt: str, warnings: dict[str, list[str]]) -> Any:
    from adaptive_deploy.apply.hooks import Hooks
    from adaptive_deploy.cli.progress import PlainHooks, RichHooks

    if fmt == "json":
        class JsonHooks(Hooks):
            """Prints nothing; keeps the platform's warnings for the JSON result."""

            def warning(self, address: str, message: str) -> None:
                warnings.setdefault(address, []).append(message)

        return JsonHooks()
    if use_color() and sys.stdout.isatty():
        return RichHooks(make_console())
    return PlainHooks()
