"""Scale benchmark: the CPU cost of `validate`, `plan` and `diff --base` from 1,000 to 50,000
deployments, as ratios to what cannot be avoided (issue 12).

    python bench/bench_scale.py [--sizes 1000,10000,50000] [--runs 3] [--dir /tmp/bench-scale]
                                [--slack 1.0]

Each size N is a generated workspace (bench/genworkspace.py) of N deployments, N/10 projects and
N/5 models (the 1,000 / 100 / 200 shape of the other benchmarks, scaled). Every figure is the
median wall time of `--runs` whole processes (one warm-up run first), and the peak RSS of the
command (`/usr/bin/time -f %M`, when present):

- parse floor: a fresh `python` that `yaml.load(..., Loader=yaml.CSafeLoader)`s every file of the
  workspace;
- validate: `adaptive-deploy validate WS`;
- parse + read floor: a fresh `python` that does the CSafeLoader load and one POST of the tool's
  own ReadLive query (client/operations/read_live.graphql) to the emulator (empty platform: the
  workspace's models and pools, no projects; 0 ms latency), with `httpx`;
- plan (empty): `adaptive-deploy plan WS` against that emulator;
- plan (no change): `plan` after the platform and the state hold everything the workspace
  declares. Applying 50,000 deployments through the API takes too long for a benchmark, so the
  setup is in two steps (`settle`): `apply` (parallelism 32) of a reduced copy of the workspace
  (its workspace, models and jobs files and the first projects file) runs the jobs, creates
  the models they produce and records models, jobs and the first ten projects in state; then,
  with the emulator stopped, every other project and deployment is inserted into its
  database through the emulator's own seeding code (ONLINE from the start), and one state
  record per new address is written as `apply` writes it (applied = the configuration's
  fields, observed = live, its fingerprint and platform id), in one transaction. The first
  `plan --detailed-exitcode` must then exit 0 (no changes). Its floor, "parse + read floor
  (deployed)", is the same parse and POST against that platform (informative, no target);
- diff --base: the workspace committed in a git repository, one model's kv_cache_len changed in
  the working tree, `adaptive-deploy diff WS --base HEAD` (exit 2: differences).

Checks (targets of issue 12; `--slack K` multiplies every limit by K, for the CI guard):
validate at 10k ≤ 3x the parse floor; validate at 50k ≤ 5.75x validate at 10k; plan (empty) at
10k ≤ 4x the parse + read floor; plan (no change) at 50k < 10 s; peak RSS growth ≤ 10 KB per
deployment between consecutive sizes (linear memory). A check whose sizes were not run is
skipped; one whose figure failed (reported on stderr) FAILs. Prints a table, the ratios and
PASS/FAIL; exits 1 on any FAIL.

The generated workspace.yaml gets `platform: {request_timeout_s: 900}`: an emulator slow at
50,000 deployments then yields a slow figure instead of a client timeout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import CLI, EmulatorProcess, prepare

PYTHON = sys.executable

PARSE_FLOOR = """
import sys, yaml
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        yaml.load(f, Loader=yaml.CSafeLoader)
"""

READ_FLOOR = """
import json, os, sys, yaml, httpx
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        yaml.load(f, Loader=yaml.CSafeLoader)
with open(sys.argv[1], encoding="utf-8") as f:
    query = f.read()
response = httpx.post(
    os.environ["ADAPTIVE_BASE_URL"] + "/api/graphql",
    json={"query": query, "operationName": "ReadLive",
          "variables": {"jobsPage": {"first": 100}}},
    headers={"Authorization": "Bearer " + os.environ["ADAPTIVE_API_KEY"]}, timeout=600)
response.raise_for_status()
assert "data" in response.json()
"""

TARGET_VALIDATE_VS_PARSE = 3.0
TARGET_VALIDATE_50K_VS_10K = 5.75
TARGET_PLAN_VS_READ = 4.0
TARGET_NO_CHANGE_50K_S = 10.0
TARGET_KB_PER_DEPLOYMENT = 10.0

COLUMNS = ["parse floor", "validate", "parse+read floor", "plan (empty)",
           "parse+read floor (deployed)", "plan (no change)", "diff --base"]


@dataclass
class Figure:
    walls: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak_kb(self) -> int:
        return max(self.rss_kb) if self.rss_kb else 0


def timed(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """Run a command as a whole process; wall seconds and peak RSS in KB."""
    timer = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
    started = time.perf_counter()
    proc = subprocess.run([*timer, *args], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(args[:3])} ... exited {proc.returncode}:\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rss = 0
    if timer and proc.stderr.strip():
        last = proc.stderr.strip().splitlines()[-1]
        rss = int(last) if last.isdigit() else 0
    return wall, rss


def measure(runs: int, run: Callable[[], tuple[float, int]]) -> Figure:
    run()  # warm-up: the OS file cache, the emulator's first response
    fig = Figure()
    for _ in range(runs):
        wall, rss = run()
        fig.walls.append(wall)
        fig.rss_kb.append(rss)
    return fig


# --------------------------------------------------------------------------- platform and state


def match_compute_configs(seed: Path, workspace: Path) -> None:
    """Give the seed's models the compute configs the workspace sets, as they would be after
    an apply (otherwise every plan also updates every base model)."""
    data = yaml.load(seed.read_bytes(), Loader=yaml.CSafeLoader)
    doc = yaml.load((workspace / "models.yaml").read_bytes(), Loader=yaml.CSafeLoader)
    specs = doc.get("models") or {}
    for model in data.get("models", []):
        cc = (specs.get(model["key"]) or {}).get("compute_config")
        if cc:
            model["compute_config"] = {**model.get("compute_config", {}), **cc}
    seed.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))


def _projects(workspace: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(workspace.glob("projects-*.yaml")):
        doc = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader) or {}
        out.append((path, doc.get("projects") or {}))
    return out


def settle_apply(workspace: Path, reduced: Path, emu: EmulatorProcess, parallelism: int) -> None:
    """Step 1: apply the workspace without all but its first projects file (jobs, produced
    models, every model's compute config, ten projects), then move its state into the
    workspace."""
    shutil.rmtree(reduced, ignore_errors=True)
    reduced.mkdir(parents=True)
    project_files = [p for p, _ in _projects(workspace)]
    for path in sorted(workspace.glob("*.yaml")):
        if path not in project_files[1:]:
            shutil.copy(path, reduced / path.name)
    proc = subprocess.run([CLI, "apply", str(reduced), "--auto-approve", "--parallelism",
                           str(parallelism)], env=emu.env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"apply failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    shutil.rmtree(workspace / ".adaptive-deploy", ignore_errors=True)
    shutil.copytree(reduced / ".adaptive-deploy", workspace / ".adaptive-deploy")


def settle_rest(workspace: Path, db: Path) -> None:
    """Step 2: every other project and deployment inserted into the stopped emulator's
    database by its own seeding code (deployments ONLINE from the start)."""
    from adaptive_deploy.emulator.core import Emulator

    rest = []
    for _path, projects in _projects(workspace)[1:]:
        for key, spec in projects.items():
            deps = []
            for model, dep in (spec.get("deployments") or {}).items():
                placement = dep.get("placement") or {}
                deps.append({"model": model, "is_default": bool(dep.get("is_default", False)),
                             "compute_pools": placement.get("compute_pools", []),
                             "max_ttft_ms": placement.get("max_ttft_ms")})
            rest.append({"key": key, "name": spec.get("name", key),
                         "description": spec.get("description", ""), "deployments": deps})
    emulator = Emulator(db, seed=None)
    try:
        with emulator.transaction():
            emulator._seed({"usable_fraction": emulator._meta("usable_fraction", "0.9"),
                            "projects": rest})
    finally:
        emulator.close()


def settle_state(workspace: Path, emu: EmulatorProcess) -> None:
    """Step 3: a state record for every configured address the state lacks, as `apply`
    writes it, in one transaction of the workspace's SQLite state."""
    import asyncio

    from adaptive_deploy.client import connect
    from adaptive_deploy.config.loader import load_config
    from adaptive_deploy.plan import resources
    from adaptive_deploy.state import _common
    from adaptive_deploy.state.base import ResourceRecord

    loaded = load_config(workspace)
    assert loaded.workspace is not None, loaded.diagnostics[:3]
    platform = connect(loaded.workspace.platform, workspace, emu.env)

    async def read() -> Any:
        try:
            return await platform.read_live()
        finally:
            await platform.aclose()

    live = asyncio.run(read())
    desired = resources.desired(loaded.workspace)
    observed = resources.observed(live)
    db = sqlite3.connect(workspace / ".adaptive-deploy" / "state.db")
    name = loaded.workspace.workspace
    have = {r[0] for r in db.execute("SELECT address FROM resources WHERE workspace = ?",
                                     (name,))}
    rows = []
    for addr, fields in desired.items():
        if addr in have or addr not in observed:
            continue
        now = observed[addr]
        rtype = addr.split(".", 1)[0]
        row = _common.record_to_row(ResourceRecord(
            addr, rtype, dict(fields), dict(now), resources.fingerprint(now),
            resources.platform_id(live, addr)))
        rows.append(row)
    with db:
        (serial,) = db.execute("UPDATE workspaces SET serial = serial + 1, writes = writes + 1 "
                               "WHERE workspace = ? RETURNING serial", (name,)).fetchone()
        db.executemany(
            "INSERT INTO resources (workspace, address, type, platform_id, applied, observed, "
            "fingerprint, updated_at, serial, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(name, r.address, r.type, r.platform_id, r.applied, r.observed, r.fingerprint,
              r.updated_at, serial, r.pending) for r in rows])
    db.close()
    proc = subprocess.run([CLI, "plan", str(workspace), "--detailed-exitcode"], env=emu.env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the settled workspace still plans changes ({proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


# --------------------------------------------------------------------------- one size


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@x",
                        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@x"})


def diff_repo(workspace: Path, repo: Path) -> Path:
    """A git repository with the workspace committed and one model's kv_cache_len changed in
    the working tree."""
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(workspace, repo / "ws", ignore=shutil.ignore_patterns(".adaptive-deploy"))
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "workspace")
    models = repo / "ws" / "models.yaml"
    text = models.read_text()
    models.write_text(text.replace("kv_cache_len: 32768", "kv_cache_len: 16384", 1))
    return repo / "ws"


class Emulator(EmulatorProcess):
    """`EmulatorProcess`, killed when it does not stop in time (a platform still building
    the answer to a request its client gave up on)."""

    def __exit__(self, *exc: object) -> None:
        try:
            super().__exit__(*exc)
        except subprocess.TimeoutExpired:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()


def give_time(workspace: Path) -> None:
    """A platform timeout long enough for a slow emulator at 50,000 deployments (the
    default 30 s per request would turn a slow answer into a failure, not a figure)."""
    path = workspace / "workspace.yaml"
    path.write_text(path.read_text() + "platform:\n  request_timeout_s: 900\n")


def run_size(root: Path, n: int, runs: int, apply_parallelism: int,
             no_change: bool = True) -> dict[str, Figure]:
    """Every figure for one workspace size; a figure that fails is reported and left out
    (every check that needs it then FAILs)."""
    here = root / str(n)
    shutil.rmtree(here, ignore_errors=True)
    workspace, seed = prepare(here, deployments=n, projects=max(1, n // 10),
                              models=max(1, n // 5))
    match_compute_configs(seed, workspace)
    give_time(workspace)
    files = [str(p) for p in sorted(workspace.glob("*.yaml"))]
    query = here / "read_live.graphql"
    from adaptive_deploy.client.documents import document

    query.write_text(document("ReadLive"))
    env = {**os.environ, "NO_COLOR": "1"}
    figures: dict[str, Figure] = {}

    def say(what: str) -> None:
        print(f"  {n:>6}: {what}", file=sys.stderr, flush=True)

    def attempt(name: str, run: Callable[[], Any]) -> None:
        say(name)
        try:
            result = run()
        except (Exception, SystemExit) as exc:
            print(f"  {n:>6}: {name} FAILED: {str(exc)[-2000:]}", file=sys.stderr, flush=True)
            return
        if isinstance(result, Figure):
            figures[name] = result

    attempt("parse floor", lambda: measure(runs, lambda: timed(
        [PYTHON, "-c", PARSE_FLOOR, *files], env)))
    attempt("validate", lambda: measure(runs, lambda: timed(
        [CLI, "validate", str(workspace)], env)))

    with Emulator(here / "empty.db", seed, latency_ms=0) as emu:
        attempt("parse+read floor", lambda: measure(runs, lambda: timed(
            [PYTHON, "-c", READ_FLOOR, str(query), *files], emu.env)))
        attempt("plan (empty)", lambda: measure(runs, lambda: timed(
            [CLI, "plan", str(workspace)], emu.env)))

    # No-change plan: see `settle` (the module docstring says why it is not one apply).
    if no_change:
        def settle() -> None:
            with Emulator(here / "deployed.db", seed, latency_ms=0) as emu:
                settle_apply(workspace, here / "reduced", emu, apply_parallelism)
            settle_rest(workspace, here / "deployed.db")
            with Emulator(here / "deployed.db", seed, latency_ms=0) as emu:
                settle_state(workspace, emu)

        attempt("settle", settle)
        if (here / "deployed.db").exists():
            with Emulator(here / "deployed.db", seed, latency_ms=0) as emu:
                attempt("parse+read floor (deployed)", lambda: measure(runs, lambda: timed(
                    [PYTHON, "-c", READ_FLOOR, str(query), *files], emu.env)))
                attempt("plan (no change)", lambda: measure(runs, lambda: timed(
                    [CLI, "plan", str(workspace), "--detailed-exitcode"], emu.env)))

    attempt("diff --base", lambda: diff_figure(workspace, here, runs, env))
    return figures


def diff_figure(workspace: Path, here: Path, runs: int, env: dict[str, str]) -> Figure:
    ws_in_repo = diff_repo(workspace, here / "repo")
    return measure(runs, lambda: timed([CLI, "diff", str(ws_in_repo), "--base", "HEAD"], env,
                                       ok=(2,)))


# --------------------------------------------------------------------------- report


def report(results: dict[int, dict[str, Figure]], slack: float,
           no_change: bool = True) -> bool:
    """Print the table, the ratios and every check; True when every check passes."""
    sizes = sorted(results)
    print("| deployments | " + " | ".join(COLUMNS) + " | peak RSS (plan) |")
    print("|" + " --- |" * (len(COLUMNS) + 2))
    for n in sizes:
        cells = [f"{results[n][c].median:.2f} s" if c in results[n] else "—" for c in COLUMNS]
        rss = results[n].get("plan (no change)") or results[n].get("plan (empty)")
        mb = f"{rss.peak_kb / 1024:.0f} MB" if rss and rss.peak_kb else "—"
        print(f"| {n:,} | " + " | ".join(cells) + f" | {mb} |")
    print()

    def median(n: int, name: str) -> float | None:
        fig = results.get(n, {}).get(name)
        return fig.median if fig is not None else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    # (what, value or None when a figure is missing, unit, limit)
    checks: list[tuple[str, float | None, str, float]] = []
    if 10_000 in results:
        checks.append(("validate at 10k / parse floor", ratio(
            median(10_000, "validate"), median(10_000, "parse floor")), "x",
            TARGET_VALIDATE_VS_PARSE * slack))
        checks.append(("plan (empty) at 10k / parse+read floor", ratio(
            median(10_000, "plan (empty)"), median(10_000, "parse+read floor")), "x",
            TARGET_PLAN_VS_READ * slack))
    if 10_000 in results and 50_000 in results:
        checks.append(("validate at 50k / validate at 10k", ratio(
            median(50_000, "validate"), median(10_000, "validate")), "x",
            TARGET_VALIDATE_50K_VS_10K * slack))
    if 50_000 in results and no_change:
        checks.append(("plan (no change) at 50k", median(50_000, "plan (no change)"), " s",
                       TARGET_NO_CHANGE_50K_S * slack))
    for small, large in itertools.pairwise(sizes):
        for command in ("validate", "plan (empty)", "plan (no change)", "diff --base"):
            a_fig, b_fig = results[small].get(command), results[large].get(command)
            if a_fig is None or b_fig is None or not (a_fig.peak_kb and b_fig.peak_kb):
                continue
            checks.append((f"peak RSS growth of {command}, {small:,} -> {large:,}",
                           (b_fig.peak_kb - a_fig.peak_kb) / (large - small), " KB/deployment",
                           TARGET_KB_PER_DEPLOYMENT * slack))

    # Informative ratios (no target): every command against its floor, at every size.
    for n in sizes:
        parts = []
        for command, floor in (("validate", "parse floor"), ("plan (empty)", "parse+read floor"),
                               ("plan (no change)", "parse+read floor (deployed)"),
                               ("diff --base", "parse floor")):
            value = ratio(median(n, command), median(n, floor))
            if value is not None:
                parts.append(f"{command} {value:.2f}x {floor}")
        print(f"{n:>6}: " + "; ".join(parts))
    print()
    ok = True
    for what, value, unit, limit in checks:
        cmp = "<" if unit == " s" else "≤"
        if value is None:
            ok = False
            print(f"{what}: not measured (target {cmp} {limit:g}{unit}): FAIL")
            continue
        passed = value < limit if unit == " s" else value <= limit
        ok = ok and passed
        print(f"{what}: {value:.2f}{unit} (target {cmp} {limit:g}{unit}): "
              f"{'PASS' if passed else 'FAIL'}")
    if not checks:
        print("no check applies to these sizes")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Generate, measure, report; exit 1 on FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,50000",
                        help="comma-separated deployment counts (default 1000,10000,50000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--dir", default="/tmp/bench-scale", help="scratch directory")
    parser.add_argument("--slack", type=float, default=1.0,
                        help="multiply every limit by this (the CI guard uses 2)")
    parser.add_argument("--parallelism", type=int, default=32,
                        help="apply parallelism when bringing the state in line")
    parser.add_argument("--skip-no-change", action="store_true",
                        help="leave out the no-change plan (its set-up applies the jobs)")
    parser.add_argument("--json", dest="json_out", default=None,
                        help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "").replace(",", "")) for s in args.sizes.split(",") if s]
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Figure]] = {}
    for n in sizes:
        print(f"size {n:,}", file=sys.stderr, flush=True)
        results[n] = run_size(root, n, max(1, args.runs), args.parallelism,
                              no_change=not args.skip_no_change)
        if args.json_out:   # after every size, so a later failure keeps what was measured
            Path(args.json_out).write_text(json.dumps(
                {str(n): {k: {"walls": f.walls, "rss_kb": f.rss_kb} for k, f in r.items()}
                 for n, r in results.items()}, indent=2))
    ok = report(results, args.slack, no_change=not args.skip_no_change)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
