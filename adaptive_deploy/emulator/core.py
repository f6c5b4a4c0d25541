"""The reference platform's rules and its SQLite store.

`Emulator` owns one SQLite database (WAL mode) and implements every query and mutation the
GraphQL layer (`emulator.app`) exposes, returning plain dicts shaped like the GraphQL types.
Nested fields (a model's backbone, a project's model services) are callables taking
`(info, **args)`: graphql-core's default resolver calls them, so only what a query selects is
loaded.

Statuses are computed from stored timestamps on read, so no background thread is needed:
a deployment is PENDING for `online_delay_s` after (re)deployment, then ONLINE, or ERROR when
the emulator's own memory check fails; a job is PENDING, RUNNING, then COMPLETED over
`job_durations`. A completed `specdec_alignment` job's output model is materialised at the start
of the next request (`settle`).

Thread safety: one connection guarded by a re-entrant lock; every request runs under the lock
and every mutation in one `BEGIN IMMEDIATE` transaction, so several processes may share a file.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

Record = dict[str, Any]

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_GIB = 1024**3


class EmulatorError(Exception):
    """A platform error; `code` becomes the GraphQL error's extensions.code."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(EmulatorError):
    """An entity does not exist: message "EntityNotFound: <kind> <key>"."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"EntityNotFound: {kind} {key}")


class InvalidInput(EmulatorError):
    """A platform rule refused the request."""

    code = "BAD_USER_INPUT"


class Conflict(EmulatorError):
    """The object already exists."""

    code = "CONFLICT"


class Forbidden(EmulatorError):
    """The caller's role may not do this."""

    code = "FORBIDDEN"


@dataclass(frozen=True)
class Timing:
    """How long simulated transitions take, in seconds."""

    online_delay_s: float = 2.0
    job_pending_s: float = 1.0
    job_running_s: float = 3.0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pools (
    id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
    gpu TEXT NOT NULL, gpu_gib REAL, groups INTEGER NOT NULL, world_size INTEGER NOT NULL,
    capabilities TEXT NOT NULL, partition_size INTEGER NOT NULL, ord INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
    is_adapter INTEGER NOT NULL, backbone TEXT, family TEXT, size INTEGER,
    supported_tp TEXT NOT NULL, tp INTEGER, kv_cache_len INTEGER, max_seq_len INTEGER,
    spec_dec_draft INTEGER NOT NULL, memory TEXT NOT NULL, training_job TEXT,
    published INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
    created_at INTEGER NOT NULL, is_archived INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS services (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, model TEXT NOT NULL, name TEXT NOT NULL,
    created_at INTEGER NOT NULL, is_default INTEGER NOT NULL, desired_online INTEGER NOT NULL,
    deployed INTEGER NOT NULL, deployed_at REAL, compute_pools TEXT NOT NULL, max_ttft_ms INTEGER,
    num_draft_steps INTEGER, UNIQUE (project_id, model));
CREATE INDEX IF NOT EXISTS services_by_project ON services (project_id);
CREATE INDEX IF NOT EXISTS services_by_model ON services (model);
CREATE TABLE IF NOT EXISTS recipes (
    id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,
    args TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, project_id TEXT NOT NULL, recipe TEXT NOT NULL,
    args TEXT NOT NULL, num_gpus INTEGER NOT NULL, compute_pool TEXT NOT NULL,
    created_at REAL NOT NULL, pending_s REAL NOT NULL, running_s REAL NOT NULL,
    canceled_at REAL, settled INTEGER NOT NULL, result TEXT);
CREATE TABLE IF NOT EXISTS roles (key TEXT PRIMARY KEY, permissions TEXT NOT NULL);
"""


# Columns added after the first release: (table, column, declaration) for older databases.
_MIGRATIONS = [("models", "published", "INTEGER NOT NULL DEFAULT 1")]


def _ms(t: float) -> int:
    return int(t * 1000)


def load_seed(name: str) -> dict[str, Any]:
    """Read a seed inventory: a bundled name (e.g. "default") or a path to a YAML file."""
    import yaml

    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        if not re.fullmatch(r"[a-z0-9_-]+", name):
            raise InvalidInput(f"unknown seed {name!r}")
        ref = resources.files("adaptive_deploy.emulator") / "seed" / f"{name}.yaml"
        try:
            text = ref.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise InvalidInput(f"unknown seed {name!r}") from exc
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InvalidInput(f"seed {name!r} is not a mapping")
    parent = data.pop("extends", None)
    if isinstance(parent, str):
        # `extends: default`: a bundled inventory with some top-level sections replaced.
        if parent == name or not re.fullmatch(r"[a-z0-9_-]+", parent):
            raise InvalidInput(f"seed {name!r} extends an invalid seed {parent!r}")
        base = load_seed(parent)
        merged_gpus = {**base.get("gpus", {}), **data.pop("gpus", {})}
        data = {**base, **data, "gpus": merged_gpus}
    return data


class _RowLookup(Mapping[str, sqlite3.Row]):
    """`Emulator._by` before the table is loaded: one indexed SELECT per key looked up."""

    def __init__(self, emu: Emulator, table: str, column: str) -> None:
        self._emu, self._table, self._column = emu, table, column

    def __getitem__(self, value: str) -> sqlite3.Row:
        row = self._emu._lookup(self._table, self._column, value)
        if row is None:
            raise KeyError(value)
        return row

    def __contains__(self, value: object) -> bool:
        return self._emu._lookup(self._table, self._column, value) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._emu._by_loaded(self._table, self._column))

    def __len__(self) -> int:
        return len(self._emu._by_loaded(self._table, self._column))


class Emulator:
    """The platform: state in SQLite, rules in methods. Create one per database file."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        seed: str | None = "default",
        timing: Timing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path = Path(db_path)
        self.timing = timing or Timing()
        self.clock = clock
        self._request_now: float | None = None
        self.lock = threading.RLock()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, one per mutation.
        self.conn = sqlite3.connect(
            str(self.db_path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self._cache: dict[str, Any] = {}
        with self.lock:
            # executescript commits on its own; IF NOT EXISTS keeps it idempotent.
            self.conn.executescript(_SCHEMA)
        with self.transaction():
            self._migrate()
            seeded = self.conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
            installation = self.conn.execute(
                "SELECT value FROM meta WHERE key='installation'").fetchone()
            if installation is None:
                # Every database is its own installation: the ids it mints (compute pools
                # included, from which adaptive-deploy derives the platform's identity) come
                # from a namespace drawn once, so a restart on another port is the same
                # platform and a new database is another one.
                namespace = uuid.uuid4()
                self._set_meta("installation", str(namespace))
                self.namespace = namespace
                if seeded is not None:
                    # A database seeded before ids were minted per database holds the pool ids
                    # every such database shares: give its pools ids of their own (nothing
                    # refers to a pool by id; placements and jobs hold pool keys).
                    for pool in self.conn.execute("SELECT key FROM pools").fetchall():
                        self.conn.execute("UPDATE pools SET id=? WHERE key=?",
                                          (self._id("pool", pool["key"]), pool["key"]))
            else:
                self.namespace = uuid.UUID(installation["value"])
            if seeded is None:
                # Seeding happens only on a new database: a restart keeps everything as it was.
                if seed:
                    self._seed(load_seed(seed))
                self.conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('seeded', ?)", (seed or "",)
                )

    def _migrate(self) -> None:
        for table, column, declaration in _MIGRATIONS:
            columns = {r["name"] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def _id(self, kind: str, key: str) -> str:
        """A stable id for a seeded or derived object, unique to this database."""
        return str(uuid.uuid5(self.namespace, f"{kind}:{key}"))

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self.conn.close()

    # ------------------------------------------------------------------ transactions, caching

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the read cache is dropped afterwards."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._cache.clear()
                raise
            self.conn.execute("COMMIT")
            self._cache.clear()

    def begin_request(self) -> None:
        """Start of a request: forget cached reads, materialise finished jobs' outputs."""
        self._cache.clear()
        self.settle()

    @contextmanager
    def request(self) -> Iterator[None]:
        """One request (`begin_request` first) that reads the clock once: a job whose end
        falls while the request runs is either settled and COMPLETED with its output, or still
        RUNNING — never COMPLETED without the output `settle` had not made yet."""
        self._request_now = self.clock()
        try:
            self.begin_request()
            yield
        finally:
            self._request_now = None

    def now(self) -> float:
        return self._request_now if self._request_now is not None else self.clock()

    def _rows(self, table: str) -> list[sqlite3.Row]:
        key = f"rows:{table}"
        if key not in self._cache:
            order = "ord" if table == "pools" else "created_at, rowid"
            self._cache[key] = self.conn.execute(
                f"SELECT * FROM {table} ORDER BY {order}"  # table names are constants
            ).fetchall()
        rows: list[sqlite3.Row] = self._cache[key]
        return rows

    def _by(self, table: str, column: str) -> Mapping[str, sqlite3.Row]:
        """Rows of `table` by a unique column. When this request has not loaded the whole
        table, a lookup asks the table's index for that one row (a mutation needs a few rows
        of each table, not all of them); iterating over it loads the table."""
        key = f"by:{table}:{column}"
        if key not in self._cache:
            if f"rows:{table}" in self._cache:
                self._cache[key] = {row[column]: row for row in self._rows(table)}
            else:
                return _RowLookup(self, table, column)
        index: dict[str, sqlite3.Row] = self._cache[key]
        return index

    def _by_loaded(self, table: str, column: str) -> dict[str, sqlite3.Row]:
        self._rows(table)
        index: dict[str, sqlite3.Row] = dict(self._by(table, column))
        return index

    def _lookup(self, table: str, column: str, value: Any) -> sqlite3.Row | None:
        if value is None:
            return None
        if f"rows:{table}" in self._cache:
            return self._by(table, column).get(value)
        found: dict[Any, sqlite3.Row | None] = self._cache.setdefault(f"one:{table}:{column}", {})
        if value not in found:
            found[value] = self.conn.execute(
                f"SELECT * FROM {table} WHERE {column}=?", (value,)  # constant names
            ).fetchone()
        return found[value]

    def _group(self, table: str, column: str) -> dict[str, list[sqlite3.Row]]:
        key = f"group:{table}:{column}"
        if key not in self._cache:
            grouped: dict[str, list[sqlite3.Row]] = {}
            for row in self._rows(table):
                grouped.setdefault(row[column], []).append(row)
            self._cache[key] = grouped
        result: dict[str, list[sqlite3.Row]] = self._cache[key]
        return result

    def _memo(self, key: str, compute: Callable[[], Any]) -> Any:
        # Per-request memo: statuses are read many times while one response is built.
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # ------------------------------------------------------------------ seeding

    def _seed(self, seed: dict[str, Any]) -> None:
        c = self.conn
        now = self.now()
        created = _ms(now)
        gpus: dict[str, float] = seed.get("gpus", {})
        self._set_meta("usable_fraction", str(seed.get("usable_fraction", 0.9)))
        for i, pool in enumerate(seed.get("compute_pools", [])):
            c.execute(
                "INSERT INTO pools VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self._id("pool", pool["key"]), pool["key"], pool.get("name", pool["key"]),
                    created, pool["gpu"], gpus.get(pool["gpu"]), int(pool.get("groups", 1)),
                    int(pool.get("world_size", 8)), json.dumps(pool.get("capabilities", [])),
                    int(pool.get("world_size", 8)), i,
                ),
            )
        for m in seed.get("models", []):
            cc = m.get("compute_config", {})
            self._insert_model(
                key=m["key"], name=m.get("name", m["key"]), created=created, is_adapter=False,
                backbone=None, family=m.get("family"), size=m.get("size"),
                supported_tp=m.get("supported_tp", [1]), tp=cc.get("tp"),
                kv_cache_len=cc.get("kv_cache_len"), max_seq_len=cc.get("max_seq_len"),
                spec_dec_draft=bool(m.get("spec_dec_draft", False)), memory=m.get("memory", {}),
                model_id=self._id("model", m["key"]), published=bool(m.get("published", True)),
            )
        for key, backbone in (seed.get("adapters") or {}).items():
            base = self._by("models", "key").get(backbone)
            self._insert_model(
                key=key, name=key, created=created, is_adapter=True, backbone=backbone,
                family=base["family"] if base else None, size=None,
                supported_tp=json.loads(base["supported_tp"]) if base else [1],
                tp=None, kv_cache_len=None, max_seq_len=None, spec_dec_draft=False, memory={},
                model_id=self._id("model", key),
            )
        for r in seed.get("recipes", []):
            c.execute(
                "INSERT INTO recipes VALUES (?,?,?,?,?,?)",
                (self._id("recipe", r["key"]), r["key"], r.get("name", r["key"]),
                 r.get("description", ""), json.dumps(r.get("args", [])), created),
            )
        for role, perms in (seed.get("roles") or {}).items():
            c.execute("INSERT INTO roles VALUES (?, ?)", (role, json.dumps(perms)))
        for p in seed.get("projects", []):
            pid = self._id("project", p["key"])
            c.execute(
                "INSERT INTO projects VALUES (?,?,?,?,?,0)",
                (pid, p["key"], p.get("name", p["key"]), p.get("description", ""), created),
            )
            for d in p.get("deployments", []):
                # Seeded deployments are ONLINE from the start: deployed long ago.
                c.execute(
                    "INSERT INTO services VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (self._id("service", f"{p['key']}/{d['model']}"), pid, d["model"], d["model"],
                     created, int(bool(d.get("is_default", False))), 1, 1,
                     now - 10 * 365 * 86400, json.dumps(d.get("compute_pools", [])),
                     d.get("max_ttft_ms"), None),
                )
        self._cache.clear()

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def _meta(self, key: str, default: str) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row["value"]) if row else default

    def _insert_model(
        self, *, key: str, name: str, created: int, is_adapter: bool, backbone: str | None,
        family: str | None, size: int | None, supported_tp: list[int], tp: int | None,
        kv_cache_len: int | None, max_seq_len: int | None, spec_dec_draft: bool,
        memory: dict[str, Any], model_id: str | None = None, training_job: str | None = None,
        published: bool = True,
    ) -> None:
        self.conn.execute(
            "INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (model_id or str(uuid.uuid4()), key, name, created, int(is_adapter), backbone, family,
             size, json.dumps(supported_tp), tp, kv_cache_len, max_seq_len, int(spec_dec_draft),
             json.dumps(memory), training_job, int(published)),
        )
        self._cache.clear()

    # ------------------------------------------------------------------ lookups

    def _find(self, table: str, kind: str, id_or_key: str) -> sqlite3.Row:
        row = self._by(table, "key").get(id_or_key) or self._by(table, "id").get(id_or_key)
        if row is None:
            raise NotFound(kind, id_or_key)
        return row

    def _model_row(self, id_or_key: str) -> sqlite3.Row:
        return self._find("models", "model", id_or_key)

    def _project_row(self, id_or_key: str) -> sqlite3.Row:
        return self._find("projects", "project", id_or_key)

    def _pool_row(self, id_or_key: str) -> sqlite3.Row:
        return self._find("pools", "compute pool", id_or_key)

    def _services_where(self, column: str, value: str) -> list[sqlite3.Row]:
        # Whole-table reads (a refresh) group the cached table; a mutation's response needs a
        # few services only, so it asks the index instead of loading thousands of rows.
        if "rows:services" in self._cache:
            return self._group("services", column).get(value, [])
        rows: list[sqlite3.Row] = self._memo(
            f"services:{column}:{value}",
            lambda: self.conn.execute(
                f"SELECT * FROM services WHERE {column}=? ORDER BY created_at, rowid", (value,)
            ).fetchall(),
        )
        return rows

    def _services_of_project(self, project_id: str) -> list[sqlite3.Row]:
        return self._services_where("project_id", project_id)

    def _services_of_model(self, model_key: str) -> list[sqlite3.Row]:
        return self._services_where("model", model_key)

    def _service_by_id(self, service_id: str) -> sqlite3.Row:
        row: sqlite3.Row = self.conn.execute(
            "SELECT * FROM services WHERE id=?", (service_id,)).fetchone()
        return row

    def _service_row(self, project: sqlite3.Row, id_or_key: str) -> sqlite3.Row:
        for s in self._services_of_project(project["id"]):
            if id_or_key in (s["id"], s["model"], s["name"]):
                return s
        raise NotFound("model service", f"{id_or_key} in project {project['key']}")

    # ------------------------------------------------------------------ computed status

    def _usable_gib(self, pool: sqlite3.Row) -> float | None:
        if pool["gpu_gib"] is None:
            return None
        return float(pool["gpu_gib"]) * float(self._meta_cached("usable_fraction", "0.9"))

    def _meta_cached(self, key: str, default: str) -> str:
        ck = f"meta:{key}"
        if ck not in self._cache:
            self._cache[ck] = self._meta(key, default)
        value: str = self._cache[ck]
        return value

    def memory_need_gib(self, model: sqlite3.Row) -> float | None:
        """Per-GPU need of a base model at its current compute config (weights + KV, with the
        draft's share for accelerated models), or None when the model has no memory data."""
        mem = json.loads(model["memory"])
        if not mem or model["tp"] is None:
            return None
        tp = int(model["tp"])
        kv_len = int(model["kv_cache_len"] or 0)

        def part(weights: float, bpt: float, heads: int) -> float:
            return weights / tp + kv_len * bpt / min(tp, max(heads, 1)) / _GIB

        need = part(mem.get("weights_gib", 0.0), mem.get("kv_bytes_per_token", 0),
                    int(mem.get("kv_heads", 1)))
        draft = mem.get("draft")
        if draft:
            need += part(draft.get("weights_gib", 0.0), draft.get("kv_bytes_per_token", 0),
                         int(draft.get("kv_heads", 1)))
        return need

    def _load_error(self, service: sqlite3.Row) -> str | None:
        """The emulator's own load check: does the model fit on every pool of its placement?"""
        model = self._by("models", "key").get(service["model"])
        if model is None:
            return f"model {service['model']} no longer exists"
        if model["is_adapter"]:
            base = self._by("models", "key").get(model["backbone"])
            if base is None:
                return None
            model = base
        needs: dict[str, float | None] = self._cache.setdefault("memory-need", {})
        if model["key"] not in needs:
            needs[model["key"]] = self.memory_need_gib(model)
        need = needs[model["key"]]
        if need is None:
            return None
        for pool_key in self._pools_of(service):
            pool = self._by("pools", "key").get(pool_key)
            if pool is None:
                continue
            usable = self._usable_gib(pool)
            if usable is not None and need > usable:
                return (
                    f"insufficient memory: needs {need:.1f} GiB per GPU, {usable:.1f} GiB usable "
                    f"on {pool['gpu']} (compute pool {pool['key']})"
                )
        return None

    def _pools_of(self, service: sqlite3.Row) -> list[str]:
        """The service's placement pools, parsed once per request (a whole read looks at
        each service's pools several times: its record, its load check, the pools' groups)."""
        parsed: dict[str, list[str]] = self._cache.setdefault("pools-of", {})
        pools = parsed.get(service["id"])
        if pools is None:
            pools = parsed[service["id"]] = json.loads(service["compute_pools"])
        return pools

    def _adapters_of(self, base_key: str) -> list[sqlite3.Row]:
        """The adapter models whose backbone is `base_key` (an index, not a scan)."""
        if "rows:models" in self._cache:
            return [m for m in self._group("models", "backbone").get(base_key, [])
                    if m["is_adapter"]]
        rows: list[sqlite3.Row] = self._memo(
            f"adapters:{base_key}",
            lambda: self.conn.execute(
                "SELECT * FROM models WHERE backbone=? AND is_adapter ORDER BY created_at, rowid",
                (base_key,)).fetchall(),
        )
        return rows

    def _services_of_model_and_adapters(self, model_key: str) -> list[sqlite3.Row]:
        """Services of the model and of every adapter on it (they run on the base model)."""
        rows = list(self._services_of_model(model_key))
        for adapter in self._adapters_of(model_key):
            if adapter["key"] != model_key:
                rows.extend(self._services_of_model(adapter["key"]))
        return rows

    def _service_status(self, service: sqlite3.Row) -> tuple[str, str | None]:
        status: tuple[str, str | None] = self._memo(
            f"status:{service['id']}", lambda: self._compute_service_status(service))
        return status

    def _compute_service_status(self, service: sqlite3.Row) -> tuple[str, str | None]:
        if not service["deployed"]:
            return "OFFLINE", None
        if not service["desired_online"]:
            return "TURNED_OFF", None
        error = self._load_error(service)
        if error:
            return "ERROR", error
        if self.now() - float(service["deployed_at"] or 0) < self.timing.online_delay_s:
            return "PENDING", None
        return "ONLINE", None

    def _model_online(self, model_key: str) -> tuple[str, str | None]:
        online: tuple[str, str | None] = self._memo(
            f"online:{model_key}", lambda: self._compute_model_online(model_key))
        return online

    def _compute_model_online(self, model_key: str) -> tuple[str, str | None]:
        statuses = [self._service_status(s) for s in self._services_of_model(model_key)]
        names = {s for s, _ in statuses}
        error = next((e for _, e in statuses if e), None)
        for candidate in ("ONLINE", "PENDING", "ERROR"):
            if candidate in names:
                return candidate, error
        return "OFFLINE", error

    def _job_state(self, job: sqlite3.Row) -> tuple[str, float, float | None, float | None]:
        """(status, progress, started_at, ended_at) from the job's timestamps."""
        now = self.now()
        created = float(job["created_at"])
        start = created + float(job["pending_s"])
        end = start + float(job["running_s"])
        canceled = job["canceled_at"]
        if canceled is not None and float(canceled) < end:
            started = start if float(canceled) >= start else None
            progress = 0.0
            if started is not None and job["running_s"]:
                progress = (float(canceled) - start) / float(job["running_s"])
            return "CANCELED", round(progress, 4), started, float(canceled)
        if now < start:
            return "PENDING", 0.0, None, None
        if now < end:
            progress = (now - start) / float(job["running_s"]) if job["running_s"] else 1.0
            return "RUNNING", round(progress, 4), start, None
        return "COMPLETED", 1.0, start, end

    # ------------------------------------------------------------------ settle (job outputs)

    def settle(self) -> None:
        """Materialise outputs of jobs that have completed since the last request."""
        now = self.now()
        due = self.conn.execute(
            "SELECT id FROM jobs WHERE settled=0 AND canceled_at IS NULL "
            "AND created_at + pending_s + running_s <= ?",
            (now,),
        ).fetchall()
        if not due:
            return
        with self.transaction():
            for row in due:
                job = self.conn.execute("SELECT * FROM jobs WHERE id=?", (row["id"],)).fetchone()
                if job is None or job["settled"]:
                    continue  # another process settled it first
                result = self._complete_job(job)
                self.conn.execute(
                    "UPDATE jobs SET settled=1, result=? WHERE id=?",
                    (json.dumps(result), job["id"]),
                )

    def _complete_job(self, job: sqlite3.Row) -> dict[str, Any]:
        if job["recipe"] != "specdec_alignment":
            return {}
        args = json.loads(job["args"])
        target = self._by("models", "key").get(args.get("target_model"))
        draft = self._by("models", "key").get(args.get("draft_model"))
        if target is None:
            return {"error": f"EntityNotFound: model {args.get('target_model')}"}
        out_key = f"{target['key']}_accelerated"
        if out_key not in self._by("models", "key"):
            memory = json.loads(target["memory"])
            if draft is not None and memory:
                dmem = json.loads(draft["memory"])
                memory["draft"] = {k: dmem.get(k) for k in
                                   ("weights_gib", "kv_bytes_per_token", "kv_heads")}
            end = float(job["created_at"]) + float(job["pending_s"]) + float(job["running_s"])
            self._insert_model(
                key=out_key, name=f"{target['name']} (accelerated)", created=_ms(end),
                is_adapter=False, backbone=None, family=target["family"], size=target["size"],
                supported_tp=json.loads(target["supported_tp"]), tp=target["tp"],
                kv_cache_len=target["kv_cache_len"], max_seq_len=target["max_seq_len"],
                spec_dec_draft=False, memory=memory, training_job=job["id"],
                published=False,  # a training output lives in its project until published
            )
        # The model artifact's metadata as harmony-client registers it (ModelArtifact:
        # name = kind-model key, metadata {"model_key": key}).
        return {"model_key": out_key}

    # ------------------------------------------------------------------ output records

    def model_record(self, row: sqlite3.Row) -> Record:
        """A Model as the GraphQL type sees it."""
        key = row["key"]
        online, error = self._model_online(key)
        cc = None
        if not row["is_adapter"]:
            cc = {"tp": row["tp"], "kvCacheLen": row["kv_cache_len"],
                  "maxSeqLen": row["max_seq_len"]}
        return {
            "id": row["id"], "key": key, "name": row["name"], "createdAt": row["created_at"],
            "online": online, "error": error, "providerName": "HARMONY", "isExternal": False,
            "inStorage": True, "isAdapter": bool(row["is_adapter"]),
            "backbone": lambda info, **_: self._maybe_model(row["backbone"]),
            "parent": lambda info, **_: self._maybe_model(row["backbone"]),
            "isTraining": False, "isPublished": bool(row["published"]), "isStable": True,
            "isSpecDecDraft": bool(row["spec_dec_draft"]),
            "capabilities": ["TextGeneration"], "supportedTp": json.loads(row["supported_tp"]),
            "family": row["family"], "publisher": None, "size": row["size"],
            "computeConfig": cc, "harmonyUrl": f"model_registry://{key}", "metrics": [],
            "projects": lambda info, filter=None, **_: self._model_projects(key, filter),
            "modelServices": lambda info, filter=None, **_: self._model_services(key, filter),
            "trainingRun": lambda info, **_: self._maybe_job(row["training_job"]),
        }

    def _maybe_model(self, key: str | None) -> Record | None:
        # Built once per request and key: every service of a model refers to the same record.
        if not key:
            return None
        records: dict[str, Record | None] = self._cache.setdefault("model-records", {})
        if key not in records:
            row = self._by("models", "key").get(key)
            records[key] = self.model_record(row) if row is not None else None
        return records[key]

    def _maybe_job(self, job_id: str | None) -> Record | None:
        row = self._by("jobs", "id").get(job_id) if job_id else None
        return self.job_record(row) if row is not None else None

    def _project_filter(self, rows: list[sqlite3.Row], flt: dict[str, Any] | None) -> list[Record]:
        archived = (flt or {}).get("isArchived")
        return [self.project_record(p) for p in rows
                if archived is None or bool(p["is_archived"]) == archived]

    def _model_projects(self, model_key: str, flt: dict[str, Any] | None) -> list[Record]:
        ids = {s["project_id"] for s in self._services_of_model(model_key)}
        return self._project_filter([p for p in self._rows("projects") if p["id"] in ids], flt)

    def _model_services(self, model_key: str, flt: dict[str, Any] | None) -> list[Record]:
        archived = (flt or {}).get("isArchived")
        out = []
        for s in self._services_of_model(model_key):
            project = self._by("projects", "id")[s["project_id"]]
            if archived is None or bool(project["is_archived"]) == archived:
                out.append(self.service_record(s))
        return out

    def service_record(self, row: sqlite3.Row) -> Record:
        """A ModelService. numDraftSteps is write-only and deliberately absent."""
        status, error = self._service_status(row)
        pools = list(self._pools_of(row))
        placement = None
        if pools or row["max_ttft_ms"] is not None:
            placement = {"computePools": pools, "maxTtftMs": row["max_ttft_ms"]}
        return {
            "id": row["id"], "projectId": row["project_id"], "key": row["model"],
            "name": row["name"], "createdAt": row["created_at"],
            "model": lambda info, **_: self._maybe_model(row["model"]),
            "status": status, "error": error, "isDefault": bool(row["is_default"]),
            "desiredOnline": bool(row["desired_online"]), "deleted": False,
            "placement": placement, "metrics": [],
        }

    def project_record(self, row: sqlite3.Row) -> Record:
        """A Project."""
        pid = row["id"]

        def services(info: Any, filter: dict[str, Any] | None = None, **_: Any) -> list[Record]:
            model = (filter or {}).get("model")
            return [self.service_record(s) for s in self._services_of_project(pid)
                    if model is None or model in (s["model"], s["id"])]

        def service(info: Any, idOrKey: str, **_: Any) -> Record | None:
            try:
                return self.service_record(self._service_row(row, idOrKey))
            except NotFound:
                return None

        def default(info: Any, **_: Any) -> Record | None:
            return next((self.service_record(s) for s in self._services_of_project(pid)
                         if s["is_default"]), None)

        def models(info: Any, **_: Any) -> list[Record]:
            keys = [s["model"] for s in self._services_of_project(pid)]
            return [r for r in (self._maybe_model(k) for k in keys) if r is not None]

        return {
            "id": pid, "key": row["key"], "name": row["name"], "description": row["description"],
            "createdAt": row["created_at"], "isArchived": bool(row["is_archived"]),
            "modelServices": services, "modelService": service, "defaultModelService": default,
            "models": models, "metrics": [], "permissions": ["project:read", "project:write"],
            "shares": [],
        }

    def pool_record(self, row: sqlite3.Row) -> Record:
        """A ComputePool with its harmony groups (one per replica)."""
        def groups(info: Any, **_: Any) -> list[Record]:
            return self._groups(row)

        return {
            "id": row["id"], "key": row["key"], "name": row["name"],
            "createdAt": row["created_at"], "capabilities": json.loads(row["capabilities"]),
            "harmonyGroups": groups, "allHarmonyGroups": groups,
        }

    def _groups(self, pool: sqlite3.Row) -> list[Record]:
        groups: list[Record] = self._memo(f"groups:{pool['key']}",
                                          lambda: self._compute_groups(pool))
        return groups

    def _models_by_pool(self) -> dict[str, dict[str, int]]:
        """Pool key → the base models placed on it (key → tp), in one pass over the services
        per request rather than one per pool."""
        def compute() -> dict[str, dict[str, int]]:
            by_pool: dict[str, dict[str, int]] = {}
            models = self._by("models", "key")
            for s in self._rows("services"):
                if not s["deployed"] or not s["desired_online"]:
                    continue
                m = models.get(s["model"])
                if m is None:
                    continue
                base = models.get(m["backbone"]) if m["is_adapter"] else m
                if base is None:
                    continue
                for pool_key in self._pools_of(s):
                    by_pool.setdefault(pool_key, {}).setdefault(base["key"], int(base["tp"] or 1))
            return by_pool

        result: dict[str, dict[str, int]] = self._memo("models-by-pool", compute)
        return result

    def _compute_groups(self, pool: sqlite3.Row) -> list[Record]:
        # Each deployed model runs one replica on every group of the pool, taking tp GPUs.
        models = self._models_by_pool().get(pool["key"], {})
        online = [k for k in models if self._model_online(k)[0] == "ONLINE"]
        jobs = [j for j in self._rows("jobs") if j["compute_pool"] == pool["key"]
                and self._job_state(j)[0] in ("PENDING", "RUNNING")]
        out = []
        for i in range(int(pool["groups"])):
            allocations = [{"name": k, "numGpus": tp, "ranks": [], "createdAt": pool["created_at"],
                            "job": None} for k, tp in models.items()]
            if i == 0:
                allocations += [{"name": j["name"], "numGpus": j["num_gpus"], "ranks": [],
                                 "createdAt": _ms(j["created_at"]),
                                 "job": lambda info, _j=j, **_: self.job_record(_j)}
                                for j in jobs]
            allocated = min(int(pool["world_size"]), sum(a["numGpus"] for a in allocations))
            out.append({
                "id": self._id("group", f"{pool['key']}/{i}"), "key": f"{pool['key']}-{i}",
                "computePool": lambda info, _p=pool, **_: self.pool_record(_p),
                "status": "ONLINE", "url": f"http://harmony-{pool['key']}-{i}.emulator.local",
                "worldSize": pool["world_size"], "inferencePartitionSize": pool["partition_size"],
                "gpuTotal": pool["world_size"], "gpuAllocated": allocated,
                "gpuAllocations": allocations, "gpuTypes": pool["gpu"],
                "createdAt": pool["created_at"],
                "onlineModels": [r for r in (self._maybe_model(k) for k in online) if r],
            })
        return out

    def recipe_record(self, key: str) -> Record | None:
        row = self._by("recipes", "key").get(key)
        if row is None:
            return None
        return {
            "id": row["id"], "key": row["key"], "name": row["name"], "content": None,
            "contentHash": hashlib.sha256(row["key"].encode()).hexdigest(), "editable": False,
            "global": True, "builtin": True,
            "inputSchema": {"required": json.loads(row["args"])},
            "jsonSchema": {"type": "object", "required": json.loads(row["args"])},
            "description": row["description"], "labels": [], "createdAt": row["created_at"],
            "updatedAt": None, "createdBy": None,
        }

    def job_record(self, row: sqlite3.Row) -> Record:
        """A Job. A completed specdec_alignment job's output is a MODEL artifact shaped as the
        real types expose it: byproducts `ModelByproducts { model }`, and the metadata
        harmony-client registers (`{"model_key": key}`)."""
        status, progress, started, ended = self._job_state(row)
        result = json.loads(row["result"]) if row["result"] else {}
        artifacts = []
        checkpoints: list[str] = []
        # "modelKey": databases written before the artifact followed harmony-client's metadata
        out_key = result.get("model_key") or result.get("modelKey")
        if status == "COMPLETED" and out_key:
            checkpoints = [out_key]
            artifacts.append({
                "id": self._id("artifact", row["id"]), "jobId": row["id"],
                "job": lambda info, **_: self.job_record(row), "name": out_key,
                "kind": "MODEL", "status": "READY", "uri": f"model_registry://{out_key}",
                "metadata": {"model_key": out_key}, "createdAt": _ms(ended or self.now()),
                "downloadUrl": None,
                "byproducts": {"__typename": "ModelByproducts",
                               "model": lambda info, **_: self._maybe_model(out_key)},
            })
        stage_status = {"PENDING": "PENDING", "RUNNING": "RUNNING", "COMPLETED": "DONE",
                        "CANCELED": "CANCELLED"}[status]
        project = self._by("projects", "id").get(row["project_id"])
        pool = self._by("pools", "key").get(row["compute_pool"])
        return {
            "id": row["id"], "name": row["name"], "status": status,
            "createdAt": _ms(row["created_at"]), "createdBy": None,
            "startedAt": _ms(started) if started is not None else None,
            "endedAt": _ms(ended) if ended is not None else None,
            "durationMs": _ms(ended - started) if ended is not None and started else None,
            "progress": progress, "error": result.get("error"), "kind": "CUSTOM",
            "stages": [{
                "name": "draft_alignment" if row["recipe"] == "specdec_alignment" else "run",
                "status": stage_status, "parent": None, "stageId": 0,
                "startedAt": _ms(started) if started is not None else None,
                "endedAt": _ms(ended) if ended is not None else None, "durationMs": None,
                "info": {"__typename": "TrainingJobStageOutput", "monitoringLink": None,
                         "totalNumSamples": 1000, "processedNumSamples": int(progress * 1000),
                         "checkpoints": checkpoints},
            }],
            "artifacts": artifacts,
            "project": self.project_record(project) if project is not None else None,
            "recipe": self.recipe_record(row["recipe"]),
            "details": {"__typename": "CustomRecipeJobDetails", "args": json.loads(row["args"]),
                        "recipeHash": None, "resumeArtifactId": None, "harmonyImageTag": None},
            "commonDetails": {
                "computePoolId": pool["id"] if pool is not None else None,
                "numGpus": row["num_gpus"],
                "gpuDurationMs": _ms((ended - started) * row["num_gpus"])
                if ended is not None and started is not None else None,
            },
        }

    # ------------------------------------------------------------------ queries

    def models(self, flt: dict[str, Any] | None = None) -> list[Record]:
        """Query.models: every registry model; `online` filters on the computed status."""
        online = (flt or {}).get("online")
        records = [self.model_record(r) for r in self._rows("models")]
        if online:
            records = [r for r in records if r["online"] in online]
        return records

    def model(self, id_or_key: str) -> Record | None:
        """Query.model: None when unknown."""
        row = self._by("models", "key").get(id_or_key) or self._by("models", "id").get(id_or_key)
        return self.model_record(row) if row is not None else None

    def compute_pools(self) -> list[Record]:
        """Query.computePools."""
        return [self.pool_record(r) for r in self._rows("pools")]

    def harmony_groups(self) -> list[Record]:
        """Query.harmonyGroups."""
        return [g for p in self._rows("pools") for g in self._groups(p)]

    def projects(self, flt: dict[str, Any] | None = None) -> list[Record]:
        """Query.projects."""
        return self._project_filter(self._rows("projects"), flt)

    def project(self, id_or_key: str) -> Record | None:
        """Query.project: None when unknown."""
        row = (self._by("projects", "key").get(id_or_key)
               or self._by("projects", "id").get(id_or_key))
        return self.project_record(row) if row is not None else None

    def job(self, job_id: str) -> Record | None:
        """Query.job: None when unknown."""
        row = self._by("jobs", "id").get(str(job_id))
        return self.job_record(row) if row is not None else None

    def jobs(self, page: dict[str, Any] | None, flt: dict[str, Any] | None) -> Record:
        """Query.jobs, newest first; cursors are offsets."""
        flt = flt or {}
        rows = list(reversed(self._rows("jobs")))
        if flt.get("project"):
            project = self._project_row(flt["project"])
            rows = [r for r in rows if r["project_id"] == project["id"]]
        if flt.get("name"):
            rows = [r for r in rows if r["name"] == flt["name"]]
        if flt.get("customRecipes"):
            rows = [r for r in rows if r["recipe"] in flt["customRecipes"]]
        records = [self.job_record(r) for r in rows]
        if flt.get("status"):
            records = [r for r in records if r["status"] in flt["status"]]
        page = page or {}
        start = int(page.get("offset") or 0)
        if page.get("after"):
            start = int(page["after"]) + 1
        first = page.get("first")
        end = len(records) if first is None else min(len(records), start + int(first))
        nodes = records[start:end]
        return {
            "totalCount": len(records), "nodes": nodes,
            "pageInfo": {"hasNextPage": end < len(records), "hasPreviousPage": start > 0,
                         "startCursor": str(start) if nodes else None,
                         "endCursor": str(end - 1) if nodes else None},
        }

    def roles(self) -> list[Record]:
        """Query.roles."""
        return [self._role_record(r["key"]) for r in self._rows_plain("roles")]

    def _rows_plain(self, table: str) -> list[sqlite3.Row]:
        return self.conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()

    def _role_record(self, key: str) -> Record:
        row = self.conn.execute("SELECT * FROM roles WHERE key=?", (key,)).fetchone()
        perms = json.loads(row["permissions"]) if row else []
        return {"id": self._id("role", key), "key": key, "name": key, "createdAt": 0,
                "permissions": perms}

    def permissions(self) -> list[str]:
        """Query.permissions: every permission in the system (not the caller's: a caller's
        permissions are those of its teams' roles, `me.teams[].role.permissions`)."""
        perms = {p for r in self._rows_plain("roles") for p in json.loads(r["permissions"])}
        return sorted(perms)

    def user(self, name: str, role: str) -> Record:
        """Query.me for the caller: a user per API key, never showing the key. Like users of
        the real platform it belongs to several teams: an organisation-wide `everyone` team
        (read-only, listed first) and the key's own team with the key's role — so no single
        team's role tells what the caller may do."""
        def team(key: str, title: str) -> Record:
            return {"id": self._id("team", key), "key": key, "name": title, "createdAt": 0}

        return {
            "id": self._id("user", name), "email": f"{name}@emulator.local", "name": name,
            "userType": "HUMAN", "createdAt": 0, "deleted": False,
            "teams": [
                {"team": team("everyone", "Everyone"), "role": self._role_record("read-only")},
                {"team": team("default", "Default team"), "role": self._role_record(role)},
            ],
        }

    # ------------------------------------------------------------------ mutations

    def update_model_compute_config(self, id_or_key: str, cfg: dict[str, Any]) -> Record:
        """Mutation.updateModelComputeConfig: tp must be in supportedTp and divide the GPUs per
        node of every pool the model is placed on; deployed services restart (PENDING)."""
        with self.transaction():
            model = self._model_row(id_or_key)
            if model["is_adapter"]:
                raise InvalidInput(
                    f"model {model['key']} is an adapter: it uses its base model's compute config"
                )
            tp = cfg.get("tp")
            if tp is not None:
                self._check_tp(model, int(tp), self._placed_pools(model["key"]))
            for field in ("kvCacheLen", "maxSeqLen"):
                value = cfg.get(field)
                if value is not None and int(value) <= 0:
                    raise InvalidInput(f"{field} must be positive, got {value}")
            sets = {"tp": tp, "kv_cache_len": cfg.get("kvCacheLen"),
                    "max_seq_len": cfg.get("maxSeqLen")}
            changes = {k: v for k, v in sets.items() if v is not None and v != model[k]}
            if changes:
                assignments = ", ".join(f"{k}=?" for k in changes)
                self.conn.execute(f"UPDATE models SET {assignments} WHERE id=?",
                                  (*changes.values(), model["id"]))
                self._restart_services(model["key"])
        return self.model_record(self._model_row(model["key"]))

    def _placed_pools(self, model_key: str) -> set[str]:
        pools: set[str] = set()
        for s in self._services_of_model_and_adapters(model_key):
            if s["deployed"]:
                pools.update(self._pools_of(s))
        return pools

    def _restart_services(self, model_key: str) -> None:
        now = self.now()
        for s in self._services_of_model_and_adapters(model_key):
            if s["deployed"]:
                self.conn.execute("UPDATE services SET deployed_at=? WHERE id=?", (now, s["id"]))

    def _check_tp(self, model: sqlite3.Row, tp: int, pool_keys: set[str] | list[str]) -> None:
        supported = json.loads(model["supported_tp"])
        if tp not in supported:
            raise InvalidInput(
                f"tp {tp} is not supported by model {model['key']} (supportedTp: {supported})"
            )
        for key in pool_keys:
            pool = self._by("pools", "key").get(key)
            if pool is not None and int(pool["world_size"]) % tp != 0:
                raise InvalidInput(
                    f"tp {tp} does not divide the {pool['world_size']} GPUs per node of "
                    f"compute pool {key}"
                )

    def _writable_project(self, id_or_key: str) -> sqlite3.Row:
        project = self._project_row(id_or_key)
        if project["is_archived"]:
            raise InvalidInput(f"project {project['key']} is archived")
        return project

    def _bind(self, project: sqlite3.Row, model: sqlite3.Row) -> sqlite3.Row:
        for s in self._services_of_project(project["id"]):
            if s["model"] == model["key"]:
                return s
        sid = str(uuid.uuid4())
        self.conn.execute(
            "INSERT INTO services VALUES (?,?,?,?,?,0,1,0,NULL,'[]',NULL,NULL)",
            (sid, project["id"], model["key"], model["key"], _ms(self.now())),
        )
        self._cache.clear()
        return self._service_by_id(sid)

    def add_models_to_project(self, project: str, models: list[str]) -> Record:
        """Mutation.addModelsToProject: idempotent; unknown models are reported as failures."""
        failures = []
        with self.transaction():
            prow = self._writable_project(project)
            for key in models:
                try:
                    self._bind(prow, self._model_row(key))
                except NotFound as exc:
                    failures.append({"model": key, "reason": exc.message})
        return {"success": not failures, "failures": failures}

    def _validate_placement(
        self, model: sqlite3.Row, placement: dict[str, Any] | None
    ) -> tuple[list[str], int | None]:
        if placement is None:
            # No placement: the first pool able to serve inference.
            pool = next((p for p in self._rows("pools")
                         if "INFERENCE" in json.loads(p["capabilities"])), None)
            if pool is None:
                raise InvalidInput("no compute pool has the INFERENCE capability")
            pools, ttft = [pool["key"]], None
        else:
            pools = list(dict.fromkeys(str(p) for p in placement.get("computePools") or []))
            ttft = placement.get("maxTtftMs")
        if not pools:
            raise InvalidInput("placement.computePools must name at least one compute pool")
        keys = []
        for p in pools:
            pool = self._pool_row(p)
            if "INFERENCE" not in json.loads(pool["capabilities"]):
                raise InvalidInput(
                    f"compute pool {pool['key']} does not have the INFERENCE capability"
                )
            keys.append(pool["key"])
        if ttft is not None and int(ttft) <= 0:
            raise InvalidInput(f"placement.maxTtftMs must be positive, got {ttft}")
        base = model
        if model["is_adapter"]:
            base = self._model_row(model["backbone"])
        if base["tp"] is not None:
            self._check_tp(base, int(base["tp"]), keys)
        return keys, ttft

    @staticmethod
    def _draft_steps(spec: dict[str, Any] | None) -> int | None:
        if spec is None:
            return None
        steps = int(spec.get("numDraftSteps", 0))
        if not 1 <= steps <= 8:
            raise InvalidInput(f"numDraftSteps must be between 1 and 8, got {steps}")
        return steps

    def _check_adapter_limit(self, model: sqlite3.Row) -> None:
        if not model["is_adapter"]:
            return
        limit = int(self._meta("adapters_per_base_model", "4"))
        siblings = {a["key"] for a in self._adapters_of(model["backbone"])
                    if any(s["deployed"] and s["desired_online"]
                           for s in self._services_of_model(a["key"]))}
        if model["key"] not in siblings and len(siblings) >= limit:
            raise InvalidInput(
                f"adapter limit reached: at most {limit} adapters of base model "
                f"{model['backbone']} may be deployed ({', '.join(sorted(siblings))})"
            )

    def deploy_model(
        self, project: str, model: str, placement: dict[str, Any] | None,
        speculative_decoding: dict[str, Any] | None,
    ) -> Record:
        """Mutation.deployModel: binds when needed, checks placement, tp, the adapter limit and
        numDraftSteps, then starts loading (PENDING → ONLINE or ERROR)."""
        warnings: list[str] = []
        with self.transaction():
            prow = self._writable_project(project)
            mrow = self._model_row(model)
            steps = self._draft_steps(speculative_decoding)
            existing = next((s for s in self._services_of_project(prow["id"])
                             if s["model"] == mrow["key"]), None)
            if placement is None and existing is not None and existing["deployed"]:
                pools = json.loads(existing["compute_pools"])
                ttft = existing["max_ttft_ms"]
            else:
                pools, ttft = self._validate_placement(mrow, placement)
            if not (existing is not None and existing["deployed"] and existing["desired_online"]):
                self._check_adapter_limit(mrow)
            service = self._bind(prow, mrow)
            if service["deployed"] and service["desired_online"]:
                warnings.append(f"model {mrow['key']} was already deployed in project "
                                f"{prow['key']}")
            changed = (not service["deployed"] or not service["desired_online"]
                       or pools != json.loads(service["compute_pools"]))
            self.conn.execute(
                "UPDATE services SET deployed=1, desired_online=1, deployed_at=?, "
                "compute_pools=?, max_ttft_ms=?, num_draft_steps=COALESCE(?, num_draft_steps) "
                "WHERE id=?",
                (self.now() if changed else service["deployed_at"], json.dumps(pools), ttft,
                 steps, service["id"]),
            )
            sid = service["id"]
        return {"modelService": self.service_record(self._service_by_id(sid)),
                "warnings": warnings}

    def update_model_service(self, data: dict[str, Any]) -> Record:
        """Mutation.updateModelService: only the given fields change."""
        with self.transaction():
            prow = self._writable_project(data["project"])
            service = self._service_row(prow, str(data["modelService"]))
            mrow = self._model_row(service["model"])
            sets: dict[str, Any] = {}
            if data.get("placement") is not None:
                pools, ttft = self._validate_placement(mrow, data["placement"])
                sets["compute_pools"] = json.dumps(pools)
                sets["max_ttft_ms"] = ttft
                if service["deployed"] and pools != json.loads(service["compute_pools"]):
                    sets["deployed_at"] = self.now()
            steps = self._draft_steps(data.get("speculativeDecoding"))
            if steps is not None:
                sets["num_draft_steps"] = steps
            if data.get("name") is not None:
                sets["name"] = str(data["name"])
            if data.get("desiredOnline") is not None:
                online = bool(data["desiredOnline"])
                if online and not service["desired_online"] and service["deployed"]:
                    self._check_adapter_limit(mrow)
                    sets["deployed_at"] = self.now()
                sets["desired_online"] = int(online)
            if data.get("isDefault") is not None:
                if data["isDefault"]:
                    self.conn.execute("UPDATE services SET is_default=0 WHERE project_id=?",
                                      (prow["id"],))
                sets["is_default"] = int(bool(data["isDefault"]))
            if sets:
                assignments = ", ".join(f"{k}=?" for k in sets)
                self.conn.execute(f"UPDATE services SET {assignments} WHERE id=?",
                                  (*sets.values(), service["id"]))
            sid = service["id"]
        return self.service_record(self._service_by_id(sid))

    def remove_model_from_project(self, project: str, model: str) -> bool:
        """Mutation.removeModelFromProject: True when the model was bound.

        As the platform documents it: "If the model is not bound to any other project or
        published organisation wide, it is deleted from storage" — the registry entry goes
        with its last binding unless the model is published (seeded models are, unless the
        seed says `published: false`; training outputs are not)."""
        with self.transaction():
            prow = self._project_row(project)
            mrow = self._model_row(model)
            cur = self.conn.execute("DELETE FROM services WHERE project_id=? AND model=?",
                                    (prow["id"], mrow["key"]))
            removed = cur.rowcount > 0
            if removed and not mrow["published"]:
                others = self.conn.execute(
                    "SELECT 1 FROM services WHERE model=? LIMIT 1", (mrow["key"],)).fetchone()
                if others is None:
                    self.conn.execute("DELETE FROM models WHERE id=?", (mrow["id"],))
            return removed

    def terminate_model(self, id_or_key: str, force: bool) -> str:
        """Mutation.terminateModel: unload everywhere; `force` needed for several projects."""
        with self.transaction():
            mrow = self._model_row(id_or_key)
            active = [s for s in self._services_of_model(mrow["key"])
                      if s["deployed"] and s["desired_online"]]
            if len(active) > 1 and not force:
                names = sorted(self._by("projects", "id")[s["project_id"]]["key"] for s in active)
                raise InvalidInput(
                    f"model {mrow['key']} is bound to {len(active)} projects "
                    f"({', '.join(names)}); set force to terminate it"
                )
            self.conn.execute("UPDATE services SET desired_online=0 WHERE model=?",
                              (mrow["key"],))
        return f"model {mrow['key']} terminated"

    def create_project(self, data: dict[str, Any]) -> Record:
        """Mutation.createProject: the key defaults to a slug of the name."""
        name = str(data.get("name") or "").strip()
        if not name:
            raise InvalidInput("project name must not be empty")
        key = data.get("key") or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise InvalidInput(f"invalid project key {key!r}: use lowercase letters, digits, "
                               "'-', '_' and '.'")
        with self.transaction():
            if key in self._by("projects", "key"):
                raise Conflict(f"project {key} already exists")
            pid = str(uuid.uuid4())
            self.conn.execute("INSERT INTO projects VALUES (?,?,?,?,?,0)",
                              (pid, key, name, data.get("description") or "", _ms(self.now())))
        return self.project_record(self._project_row(key))

    def update_project(self, id_or_key: str, data: dict[str, Any]) -> Record:
        """Mutation.updateProject: name, description, isArchived."""
        with self.transaction():
            prow = self._project_row(id_or_key)
            sets: dict[str, Any] = {}
            if data.get("name") is not None:
                if not str(data["name"]).strip():
                    raise InvalidInput("project name must not be empty")
                sets["name"] = str(data["name"])
            if data.get("description") is not None:
                sets["description"] = str(data["description"])
            if data.get("isArchived") is not None:
                sets["is_archived"] = int(bool(data["isArchived"]))
            if sets:
                assignments = ", ".join(f"{k}=?" for k in sets)
                self.conn.execute(f"UPDATE projects SET {assignments} WHERE id=?",
                                  (*sets.values(), prow["id"]))
            key = prow["key"]
        return self.project_record(self._project_row(key))

    def create_job(self, data: dict[str, Any]) -> Record:
        """Mutation.createJob: the recipe must exist, the pool needs the JOB capability,
        specdec_alignment needs target_model, draft_model and dataset of one family."""
        with self.transaction():
            prow = self._writable_project(data["project"])
            recipe = self._find("recipes", "recipe", str(data["recipe"]))
            args = data.get("args") or {}
            if not isinstance(args, dict):
                raise InvalidInput("args must be an object")
            missing = [a for a in json.loads(recipe["args"]) if a not in args]
            if missing:
                raise InvalidInput(f"recipe {recipe['key']} needs args: {', '.join(missing)}")
            if recipe["key"] == "specdec_alignment":
                target = self._model_row(str(args["target_model"]))
                draft = self._model_row(str(args["draft_model"]))
                if target["family"] != draft["family"]:
                    raise InvalidInput(
                        f"draft model {draft['key']} ({draft['family']}) does not share the "
                        f"tokenizer family of target model {target['key']} ({target['family']})"
                    )
            if data.get("computePool"):
                pool = self._pool_row(str(data["computePool"]))
                if "JOB" not in json.loads(pool["capabilities"]):
                    raise InvalidInput(
                        f"compute pool {pool['key']} does not have the JOB capability"
                    )
            else:
                found = next((p for p in self._rows("pools")
                              if "JOB" in json.loads(p["capabilities"])), None)
                if found is None:
                    raise InvalidInput("no compute pool has the JOB capability")
                pool = found
            num_gpus = int(data.get("numGpus") or 0)
            capacity = int(pool["world_size"]) * int(pool["groups"])
            if not 1 <= num_gpus <= capacity:
                raise InvalidInput(
                    f"numGpus must be between 1 and {capacity} on compute pool {pool['key']}"
                )
            jid = str(uuid.uuid4())
            self.conn.execute(
                "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,NULL,0,NULL)",
                (jid, data.get("name") or f"{recipe['key']}-{jid[:8]}", prow["id"],
                 recipe["key"], json.dumps(args), num_gpus, pool["key"], self.now(),
                 self.timing.job_pending_s, self.timing.job_running_s),
            )
        return self.job_record(self._by("jobs", "id")[jid])

    def cancel_job(self, job_id: str) -> Record:
        """Mutation.cancelJob: a no-op on a finished job."""
        with self.transaction():
            row = self._by("jobs", "id").get(str(job_id))
            if row is None:
                raise NotFound("job", str(job_id))
            if self._job_state(row)[0] in ("PENDING", "RUNNING"):
                self.conn.execute("UPDATE jobs SET canceled_at=? WHERE id=?",
                                  (self.now(), row["id"]))
        return self.job_record(self._by("jobs", "id")[str(job_id)])

    def update_job(self, job_id: str, data: dict[str, Any]) -> Record:
        """Mutation.updateJob: renames a job (UpdateJobInput has only `name`)."""
        with self.transaction():
            row = self._by("jobs", "id").get(str(job_id))
            if row is None:
                raise NotFound("job", str(job_id))
            if data.get("name") is not None:
                name = str(data["name"]).strip()
                if not name:
                    raise InvalidInput("job name must not be empty")
                self.conn.execute("UPDATE jobs SET name=? WHERE id=?", (name, row["id"]))
        return self.job_record(self._by("jobs", "id")[str(job_id)])

    def delete_job(self, job_id: str) -> bool:
        """Mutation.deleteJob: a finished or cancelled job only; the models it produced stay."""
        with self.transaction():
            row = self._by("jobs", "id").get(str(job_id))
            if row is None:
                raise NotFound("job", str(job_id))
            if self._job_state(row)[0] in ("PENDING", "RUNNING"):
                raise InvalidInput(f"job {row['name']} is {self._job_state(row)[0]}: cancel it "
                                   "before deleting it")
            self.conn.execute("UPDATE models SET training_job=NULL WHERE training_job=?",
                              (row["id"],))
            self.conn.execute("DELETE FROM jobs WHERE id=?", (row["id"],))
        return True

    def resize_inference_partition(self, pool: str, size: int) -> str:
        """Mutation.resizeInferencePartition: 0..worldSize GPUs of each group for inference."""
        with self.transaction():
            prow = self._pool_row(pool)
            if not 0 <= size <= int(prow["world_size"]):
                raise InvalidInput(
                    f"size must be between 0 and {prow['world_size']} for compute pool "
                    f"{prow['key']}"
                )
            self.conn.execute("UPDATE pools SET partition_size=? WHERE id=?",
                              (size, prow["id"]))
        return f"inference partition of compute pool {prow['key']} resized to {size}"

    def stored_draft_steps(self, project: str, model: str) -> int | None:
        """The write-only numDraftSteps as stored (for tests; never exposed over GraphQL)."""
        with self.lock:
            prow = self._project_row(project)
            row = self.conn.execute(
                "SELECT num_draft_steps FROM services WHERE project_id=? AND model=?",
                (prow["id"], model),
            ).fetchone()
            return None if row is None else row["num_draft_steps"]
