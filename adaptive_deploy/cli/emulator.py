"""`adaptive-deploy emulator serve`: run the reference platform over HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from adaptive_deploy.cli.common import handle_errors


@click.group("emulator")
def command() -> None:
    """Run the reference platform (emulator)."""


def _parse_key(value: str) -> tuple[str, str]:
    key, sep, role = value.rpartition(":")
    if not sep or not key or not role:
        raise click.BadParameter(f"expected KEY:ROLE, got {value!r}", param_hint="--api-key")
    return key, role


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int,
              help="Port to listen on; 0 picks a free port (the real one is printed).")
@click.option("--db", "db_path", default=".adaptive-deploy/emulator.db", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite file; created and seeded when new.")
@click.option("--seed", default="default", show_default=True,
              help="Seed inventory for a new database: a bundled name or a YAML path.")
@click.option("--latency-ms", default=0.0, type=float, help="Fixed latency per request.")
@click.option("--jitter-ms", default=0.0, type=float, help="Extra uniform random latency.")
@click.option("--fail-rate", default=0.0, type=float, help="Probability of a 503 answer.")
@click.option("--rate-limit-rate", default=0.0, type=float,
              help="Probability of a 429 answer with Retry-After.")
@click.option("--retry-after-s", default=1.0, type=float, help="Retry-After on 429 answers.")
@click.option("--hang-rate", default=0.0, type=float,
              help="Probability of hanging --hang-s seconds, then a 504.")
@click.option("--hang-s", default=30.0, type=float, help="How long a hang lasts.")
@click.option("--drop-rate", default=0.0, type=float,
              help="Probability a mutation commits but its response is dropped.")
@click.option("--drop-style", default="502", type=click.Choice(["502", "reset", "mixed"]),
              show_default=True, help="How a dropped response looks to the client.")
@click.option("--fault-seed", default=None, type=int, help="Seed for deterministic faults.")
@click.option("--online-delay-s", default=2.0, show_default=True, type=float,
              help="Seconds a deployment stays PENDING before ONLINE.")
@click.option("--job-pending-s", default=1.0, show_default=True, type=float,
              help="Seconds a job stays PENDING.")
@click.option("--job-running-s", default=3.0, show_default=True, type=float,
              help="Seconds a job stays RUNNING before COMPLETED.")
@click.option("--api-key", "api_keys", multiple=True, metavar="KEY:ROLE",
              help="Accepted key and its role (admin, read-only, inference, annotator); "
                   "repeatable. Without it an admin key is generated and printed.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@handle_errors
def serve(
    host: str, port: int, db_path: str, seed: str, latency_ms: float, jitter_ms: float,
    fail_rate: float, rate_limit_rate: float, retry_after_s: float, hang_rate: float,
    hang_s: float, drop_rate: float, drop_style: str, fault_seed: int | None,
    online_delay_s: float, job_pending_s: float, job_running_s: float,
    api_keys: tuple[str, ...], log_level: str,
) -> None:
    """Serve the reference platform's GraphQL API at http://HOST:PORT/api/graphql."""
    from adaptive_deploy.emulator.app import create_app
    from adaptive_deploy.emulator.core import EmulatorError
    from adaptive_deploy.emulator.faults import FaultConfig
    from adaptive_deploy.emulator.serve import bind_socket, generate_api_key, run

    keys = dict(_parse_key(v) for v in api_keys)
    generated = None
    reused = False
    key_file = Path(f"{db_path}.admin-key")
    if not keys:
        # The generated admin key lives beside the database (mode 0600), so serving an
        # existing database again keeps the key its users already exported.
        if key_file.is_file() and Path(db_path).exists():
            generated = key_file.read_text(encoding="utf-8").strip()
            reused = bool(generated)
        if not generated:
            generated = generate_api_key()
        keys = {generated: "admin"}
    try:
        faults = FaultConfig(
            latency_ms=latency_ms, jitter_ms=jitter_ms, fail_rate=fail_rate,
            rate_limit_rate=rate_limit_rate, retry_after_s=retry_after_s, hang_rate=hang_rate,
            hang_s=hang_s, drop_rate=drop_rate, drop_style=drop_style, seed=fault_seed,
        )
        faults.validate()
        app = create_app(db_path, seed=seed, api_keys=keys, online_delay_s=online_delay_s,
                         job_durations=(job_pending_s, job_running_s), faults=faults)
    except (ValueError, EmulatorError) as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    if generated is not None and not reused:
        try:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(generated + "\n")
        except OSError:
            key_file = Path()   # not kept: a restart prints a new key
    real_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{real_port}"
    click.echo(f"Listening on {url}")
    click.echo(f"GraphQL endpoint: {url}/api/graphql (database {db_path})")
    if generated is not None:
        # The generated key is shown once, here, so the user can export it; it is never logged.
        kept = (f" (kept in {key_file}; reused while the database exists)"
                if key_file != Path() else "")
        click.echo(f"Admin API key: {generated}{' — the same as last time' if reused else ''}"
                   f"{kept}")
        click.echo("Use it from another terminal:")
        click.echo(f"  export ADAPTIVE_BASE_URL={url}")
        click.echo(f"  export ADAPTIVE_API_KEY={generated}")
    sys.stdout.flush()
    try:
        run(app, sock, log_level=log_level)
    finally:
        app.emulator.close()
