"""The executor: carries out a plan against the platform, recording state as it goes.

Order (SPEC §6): deletes first, in reverse dependency order (adapter deployments before base
deployments, deployments before their project's archive), then creates/updates/runs along the
plan's dependency graph (projects → model compute configs → jobs, run and awaited → base
deployments → adapter deployments). Independent actions run in parallel up to `parallelism`.

Each resource's state record is committed as soon as its platform call succeeds, so a crash
mid-apply loses nothing: the next plan shows exactly what is left. A create's intent is
committed BEFORE its platform call (a record marked `pending`), so an object created just
before a crash is recognised as this workspace's own on the next run rather than reported as
someone else's. The executor never prints; progress goes through `Hooks`.

State commits run on one dedicated worker thread, so a commit (an fsync) never stalls the
event loop and the other requests in flight; each is still awaited before the resource goes
on (intent before the platform call, record before its dependents start), and the single
thread keeps them in order.

Models are bound to a project in one addModelsToProject per project (see `_Attachments`),
not one per deployment.

Deployments: the placement is sent whole (the platform replaces it whole), and a replacement
is a restart in place — never remove-then-deploy, which would delete a model with its last
project binding.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from adaptive_deploy.addresses import Address, ResourceType
from adaptive_deploy.apply.hooks import Hooks
from adaptive_deploy.client.protocol import Platform
from adaptive_deploy.errors import AuthError, LockLost
from adaptive_deploy.live import LiveDeployment, LiveJob, LiveProject, LiveState
from adaptive_deploy.state.base import PENDING_CREATE, ResourceRecord, StateStore

T = TypeVar("T")

# Actions that change nothing on the platform or in state.
_INERT = {"no-op"}

_DEPLOYMENT_FIELDS = ("compute_pools", "max_ttft_ms", "num_draft_steps", "is_default", "desired_online")


@dataclass
class ResourceResult:
    address: str
    action: str
    ok: bool
    error: str | None = None
    skipped: bool = False
    elapsed_s: float = 0.0
    replaced: bool = False              # a deployment restarted in place (--replace, ERROR)


# Summary key per action, as in the plan's summary.
_SUMMARY_KEYS = {"create": "add", "update": "change", "delete": "destroy", "run": "run",
                 "forget": "forget"}


@dataclass
class ApplyResult:
    results: list[ResourceResult] = field(default_factory=list)
    # The platform refused the key: the apply stopped at once (nothing more was attempted).
    stopped_by: AuthError | None = None

    @property
    def failed(self) -> list[ResourceResult]:
        return [r for r in self.results if not r.ok]

    def summary(self) -> dict[str, int]:
        """Successful actions counted as the plan counts them (a restart in place is a
        change), plus the number of failed ones."""
        counts = dict.fromkeys(_SUMMARY_KEYS.values(), 0)
        for r in self.results:
            if r.ok and r.action in _SUMMARY_KEYS:
                counts[_SUMMARY_KEYS[r.action]] += 1
        return {**counts, "failed": len(self.failed)}


@dataclass
class ExecutorOptions:
    parallelism: int = 8
    wait_timeout_s: float = 900.0       # per deployment to reach ONLINE, per job to finish
    poll_interval_s: float = 0.5
    env: Mapping[str, str] = field(default_factory=dict)


FIRST_POLL_S = 0.1


def poll_delays(interval_s: float) -> Iterator[float]:
    """The waits between polls of something that becomes ready by itself (a deployment
    loading, a job running): 0.1 s, doubling up to `interval_s`, then `interval_s` for good.
    A deployment or job ready at once is seen in a tenth of a second, not a whole interval;
    one that takes minutes costs a handful of polls more."""
    delay = min(FIRST_POLL_S, interval_s)
    while True:
        yield delay
        delay = min(delay * 2, interval_s)


class ResourceFailed(Exception):
    """A resource action failed; the message names the platform's reason."""


async def execute(
    changes: list[dict[str, Any]],
    platform: Platform,
    store: StateStore,
    hooks: Hooks,
    live: LiveState,
    options: ExecutorOptions,
) -> ApplyResult:
    """Apply `changes` (plan-JSON change objects) and return per-resource results."""
    state = _State(store)
    observed: list[asyncio.Future[None]] = []
    for change in changes:
        if change["action"] in _INERT and change.get("after") is not None and change.get("before") is not None:
            # Adopted or converged: the platform already matches; record it so the resource
            # is managed from now on (and deleted when it leaves the configuration). Queued
            # first on the commit thread, awaited at the end: nothing waits for these.
            observed.append(asyncio.ensure_future(state.put(_observed_record(change, live))))
    todo = [c for c in changes if c["action"] not in _INERT]
    hooks.start(len(todo))
    semaphore = asyncio.Semaphore(max(1, options.parallelism))
    done: dict[str, asyncio.Future[bool]] = {}
    loop = asyncio.get_running_loop()
    for change in todo:
        done[change["address"]] = loop.create_future()
    requires, after = _dependencies(todo, live)
    result = ApplyResult()
    attachments = _Attachments(todo, live, platform, done, semaphore,
                               lambda: result.stopped_by is not None, store.check_lock)

    async def run_one(change: dict[str, Any]) -> None:
        address, action = change["address"], change["action"]
        failed_deps = []
        for dep in requires[address]:
            if not await done[dep]:
                failed_deps.append(dep)
        for dep in after[address]:
            await done[dep]          # ordering only: a failed delete does not block the rest
        if failed_deps:
            reason = f"not attempted: {', '.join(failed_deps)} failed"
            hooks.skipped(address, action, reason)
            result.results.append(ResourceResult(address, action, False, reason, skipped=True))
            done[address].set_result(False)
            return
        # A new deployment's model is bound by its project's batch, which takes a slot of its
        # own: waiting for it here holds none.
        await attachments.ready(change)
        async with semaphore:
            store.check_lock()   # a lock lost meanwhile: no further platform call
            if result.stopped_by is not None:
                reason = "not attempted: the platform refused the key"
                hooks.skipped(address, action, reason)
                result.results.append(ResourceResult(address, action, False, reason, skipped=True))
                done[address].set_result(False)
                return
            hooks.pre_apply(address, action)
            started = time.monotonic()
            try:
                await _apply_change(change, platform, state, hooks, live, options, attachments)
            except LockLost:
                raise
            except Exception as exc:
                if isinstance(exc, AuthError) and result.stopped_by is None:
                    # Let the platform decide who may apply: its refusal ends the apply.
                    result.stopped_by = exc
                elapsed = time.monotonic() - started
                message = str(exc) or type(exc).__name__
                hooks.post_apply(address, action, elapsed, message)
                result.results.append(ResourceResult(address, action, False, message, False, elapsed))
                done[address].set_result(False)
                return
            elapsed = time.monotonic() - started
            hooks.post_apply(address, action, elapsed)
            result.results.append(ResourceResult(address, action, True, None, False, elapsed,
                                                 replaced=bool(change.get("replace"))))
            done[address].set_result(True)

    tasks = [asyncio.ensure_future(run_one(c)) for c in todo]
    try:
        await asyncio.gather(*tasks)
        await asyncio.gather(*observed)
    except LockLost:
        # Another process holds the workspace now: stop everything at once.
        for task in [*tasks, *observed]:
            task.cancel()
        await asyncio.gather(*tasks, *observed, return_exceptions=True)
        raise
    finally:
        attachments.cancel()
        state.close()
        hooks.finish()
    return result


class _State:
    """The state store, committed to from one dedicated worker thread: `await put(...)`
    returns once the record is committed, without blocking the event loop meanwhile. One
    thread, so commits happen in the order they were asked for."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-commit")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def put(self, record: ResourceRecord) -> None:
        await self._run(self.store.put_resource, record)

    async def delete(self, address: str) -> None:
        await self._run(self.store.delete_resource, address)

    def close(self) -> None:
        # Waits for a commit still running (e.g. after a cancellation): it finishes whole.
        self._worker.shutdown(wait=True)


def _failed(done: asyncio.Future[bool]) -> bool:
    """Has this action already ended without success (failed, skipped or cancelled)?"""
    return done.done() and (done.cancelled() or not done.result())


class _Attachments:
    """One addModelsToProject per project for the deployments this apply creates.

    When the first of a project's new deployments is ready to go (its dependencies done), one
    request binds every model of that project's deployment creates that exists on the platform
    now (not a job's output, which does not exist yet) and whose create has not already failed
    or been skipped. That request takes a parallelism slot like any platform call; the
    deployments wait for it without holding one, then go on. A model the platform refuses fails
    its own deployment only. Deployments outside a batch bind themselves (`Platform.deploy`).
    """

    def __init__(self, todo: list[dict[str, Any]], live: LiveState, platform: Platform,
                 done: Mapping[str, asyncio.Future[bool]], semaphore: asyncio.Semaphore,
                 stopped: Callable[[], bool], check_lock: Callable[[], None]) -> None:
        self._platform = platform
        self._done = done
        self._semaphore = semaphore
        self._stopped = stopped
        self._check_lock = check_lock
        self._members: dict[str, dict[str, str]] = {}   # project → model → address
        self._batches: dict[str, asyncio.Future[dict[str, str]]] = {}
        for change in todo:
            if change["action"] != "create" or not change["address"].startswith("deployment."):
                continue
            project, model = Address.parse(change["address"]).project_and_model
            if model in live.models:
                self._members.setdefault(project, {})[model] = change["address"]

    def covers(self, project: str, model: str) -> bool:
        return model in self._members.get(project, {})

    def _start(self, project: str, model: str) -> asyncio.Future[dict[str, str]]:
        batch = self._batches.get(project)
        if batch is None:
            models = [m for m, address in self._members[project].items()
                      if m == model or not _failed(self._done[address])]
            batch = asyncio.ensure_future(self._bind(project, models))
            self._batches[project] = batch
        return batch

    async def _bind(self, project: str, models: list[str]) -> dict[str, str]:
        async with self._semaphore:
            self._check_lock()
            if self._stopped():
                return {}   # the key was refused: the deployments are skipped, not bound
            return await self._platform.attach_models(project, models)

    async def ready(self, change: dict[str, Any]) -> None:
        """For a deployment create in a batch: start its project's batch if needed and wait
        until it has answered (its outcome is read by `attach`)."""
        if change["action"] != "create" or not change["address"].startswith("deployment."):
            return
        project, model = Address.parse(change["address"]).project_and_model
        if self.covers(project, model):
            await asyncio.wait([self._start(project, model)])

    async def attach(self, project: str, model: str) -> None:
        """`model`'s binding by the project's batch; ResourceFailed when it was refused."""
        batch = self._batches.get(project)
        if batch is None:
            # Not started through `ready` (the caller holds a slot): bind it alone, here.
            failures = await self._platform.attach_models(project, [model])
        else:
            # Shielded: one waiter cancelled must not cancel the request the others await.
            failures = await asyncio.shield(batch)
        if model in failures:
            raise ResourceFailed(f"addModelsToProject to {project} failed: {model}: "
                                 f"{failures[model]}")

    def cancel(self) -> None:
        for batch in self._batches.values():
            if not batch.done():
                batch.cancel()
            elif not batch.cancelled():
                batch.exception()   # retrieved: a failed batch was reported to its waiters


Edges = dict[str, list[str]]


def _dependencies(changes: list[dict[str, Any]], live: LiveState) -> tuple[Edges, Edges]:
    """Edges between the changes to execute: (must have succeeded, must have finished).

    Creates, updates and runs require what the plan's `depends_on` names. Deletes run first,
    in reverse: a delete requires the deletes of everything that depends on it (adapters
    before their base, deployments before their project). Every other action runs after all
    deletes have finished — successfully or not — so freed GPUs and adapter slots are
    available to what is created next, without one failed delete blocking the whole apply.
    """
    present = {c["address"] for c in changes}
    deletes = [c for c in changes if c["action"] in ("delete", "forget")]
    delete_addrs = sorted(c["address"] for c in deletes)
    requires: Edges = {}
    after: Edges = {}
    for c in changes:
        if c["action"] in ("delete", "forget"):
            this = Address.parse(c["address"])
            requires[c["address"]] = [
                other["address"] for other in deletes
                if other is not c and _delete_must_wait(this, Address.parse(other["address"]), live)
            ]
            after[c["address"]] = []
        else:
            requires[c["address"]] = [d for d in c.get("depends_on") or [] if d in present]
            after[c["address"]] = delete_addrs
    return requires, after


def _delete_must_wait(this: Address, other: Address, live: LiveState) -> bool:
    """Must the delete of `this` wait for the delete of `other`?"""
    if this.type is ResourceType.PROJECT:
        # archive a project after its deployments and jobs are gone
        return other.type is ResourceType.DEPLOYMENT and other.project_and_model[0] == this.name
    if this.type is ResourceType.DEPLOYMENT and other.type is ResourceType.DEPLOYMENT:
        project, model = this.project_and_model
        other_project, other_model = other.project_and_model
        adapter = live.models.get(other_model)
        return (
            other_project == project
            and adapter is not None
            and adapter.is_adapter
            and adapter.backbone == model
        )
    if this.type is ResourceType.MODEL:
        return other.type is ResourceType.DEPLOYMENT and other.project_and_model[1] == this.name
    return False


async def _apply_change(
    change: dict[str, Any],
    platform: Platform,
    state: _State,
    hooks: Hooks,
    live: LiveState,
    options: ExecutorOptions,
    attachments: _Attachments,
) -> None:
    address = Address.parse(change["address"])
    action = change["action"]
    after: dict[str, Any] = change.get("after") or {}
    if action == "forget":
        await state.delete(str(address))
        return
    if address.type is ResourceType.PROJECT:
        await _apply_project(address, action, change, platform, state, live)
    elif address.type is ResourceType.MODEL:
        model = await platform.update_model_compute_config(
            address.name, **{k: after[k] for k in ("tp", "kv_cache_len", "max_seq_len") if k in after}
        )
        await _record(state, change, LiveState(models={model.key: model}), model.id)
    elif address.type is ResourceType.DEPLOYMENT:
        await _apply_deployment(address, action, change, platform, state, hooks, options,
                                attachments)
    elif address.type is ResourceType.JOB:
        await _run_job(address, change, platform, state, hooks, options)
    else:
        raise ResourceFailed(f"{address}: {address.type.value} resources are read-only")


async def _apply_project(
    address: Address, action: str, change: dict[str, Any], platform: Platform,
    state: _State, live: LiveState,
) -> None:
    after: dict[str, Any] = change.get("after") or {}
    project: LiveProject
    archived = live.projects.get(address.name)
    if action == "create":
        await _record_intent(state, change)
    if action == "create" and archived is not None and archived.is_archived:
        # Deleting a project archives it; creating it again restores the archived one
        # (project keys stay taken on the platform).
        project = await platform.update_project(
            address.name, name=after.get("name") or address.name,
            description=after.get("description"), is_archived=False,
        )
    elif action == "create":
        project = await platform.create_project(
            address.name, name=after.get("name") or address.name,
            description=after.get("description"),
        )
    elif action == "update":
        changed = _changed_fields(change)
        project = await platform.update_project(
            address.name, **{k: after[k] for k in ("name", "description") if k in changed and k in after}
        )
    elif action == "delete":
        await platform.update_project(address.name, is_archived=True)
        await state.delete(str(address))
        return
    else:
        raise ResourceFailed(f"{address}: cannot {action} a project")
    await _record(state, change, LiveState(projects={project.key: project}), project.id)


async def _apply_deployment(
    address: Address,
    action: str,
    change: dict[str, Any],
    platform: Platform,
    state: _State,
    hooks: Hooks,
    options: ExecutorOptions,
    attachments: _Attachments,
) -> None:
    project, model = address.project_and_model
    after: dict[str, Any] = change.get("after") or {}
    if action == "delete":
        await platform.remove_deployment(project, model)
        await state.delete(str(address))
        return
    if action == "update" and change.get("replace"):
        await _restart(address, change, platform, state, hooks, options)
        return
    fields = {k: after[k] for k in _DEPLOYMENT_FIELDS if k in after}
    deployment: LiveDeployment | None
    if action == "create":
        if "compute_pools" not in fields:
            raise ResourceFailed(f"{address}: a new deployment needs placement.compute_pools")
        await _record_intent(state, change)
        attached = attachments.covers(project, model)
        if attached:
            await attachments.attach(project, model)
        deployment = await platform.deploy(project, model, attached=attached, **fields)
        for warning in deployment.warnings:
            hooks.warning(str(address), warning)
    elif action == "update":
        send = update_fields(change)
        if send:
            deployment = await platform.update_deployment(project, model, **send)
        else:
            # Only state-held fields changed (protect): nothing to send to the platform.
            deployment = await platform.get_deployment(project, model)
            if deployment is None:
                raise ResourceFailed(f"{address}: the deployment no longer exists on the platform")
    else:
        raise ResourceFailed(f"{address}: cannot {action} a deployment")
    await _record(state, change, LiveState(deployments={(project, model): deployment}),
                  deployment.id)
    # Wait for the model to load when it is (re)placed and meant to be online.
    loads = action == "create" or "compute_pools" in _changed_fields(change)
    if loads and after.get("desired_online", True):
        await _wait_for(address, action, platform, hooks, options, ONLINE, deployment)


def update_fields(change: Mapping[str, Any]) -> dict[str, Any]:
    """What an update of a deployment sends (`Platform.update_deployment` keywords).

    Changed fields only, except the placement: the platform replaces a placement whole, so
    when `compute_pools` or `max_ttft_ms` changes, both travel together — the pools as
    configured, `max_ttft_ms` as configured or, when the configuration leaves it out
    (unmanaged), the live value, which sending the pools alone would drop. A restart in place
    (`replace`) sends everything the configuration manages and the whole placement."""
    after: Mapping[str, Any] = change.get("after") or {}
    before: Mapping[str, Any] = change.get("before") or {}
    fields = {k: after[k] for k in _DEPLOYMENT_FIELDS if k in after}
    restart = bool(change.get("replace"))
    changed = _changed_fields(change)
    send = dict(fields) if restart else {k: v for k, v in fields.items() if k in changed}
    if restart or "compute_pools" in send or "max_ttft_ms" in send:
        pools = after.get("compute_pools", before.get("compute_pools"))
        ttft = after.get("max_ttft_ms", before.get("max_ttft_ms"))
        if pools:
            send["compute_pools"] = list(pools)
        if ttft is not None:
            send["max_ttft_ms"] = ttft
    return send


ONLINE = frozenset({"ONLINE"})
OFF = frozenset({"OFFLINE", "TURNED_OFF"})


async def _restart(
    address: Address, change: dict[str, Any], platform: Platform, state: _State,
    hooks: Hooks, options: ExecutorOptions,
) -> None:
    """Restart a deployment in place: updateModelService desiredOnline false, wait until it is
    off, then desiredOnline true with the whole placement and the draft steps, and wait for
    ONLINE. The model stays bound to the project throughout, so it is never deleted (removing
    a model's last binding deletes it from storage)."""
    project, model = address.project_and_model
    send = update_fields(change)
    online = bool(send.pop("desired_online", True))
    hooks.progress(str(address), "update", "turning off to restart in place")
    await platform.update_deployment(project, model, desired_online=False)
    await _wait_for(address, "update", platform, hooks, options, OFF)
    deployment = await platform.update_deployment(project, model, desired_online=online, **send)
    await _record(state, change, LiveState(deployments={(project, model): deployment}),
                  deployment.id)
    if online:
        await _wait_for(address, "update", platform, hooks, options, ONLINE, deployment)


async def _wait_for(
    address: Address, action: str, platform: Platform, hooks: Hooks, options: ExecutorOptions,
    wanted: frozenset[str], answer: LiveDeployment | None = None,
) -> None:
    """Poll the deployment until its status is one of `wanted`; ERROR while waiting for
    ONLINE fails at once. `answer`, the mutation's own answer, is looked at first: when its
    status is already final, nothing is polled."""
    project, model = address.project_and_model
    deadline = time.monotonic() + options.wait_timeout_s
    last_status = None
    current: LiveDeployment | None = answer
    delays = poll_delays(options.poll_interval_s)
    while True:
        if current is None:
            current = await platform.get_deployment(project, model)
        if current is None:
            raise ResourceFailed(f"{address}: the deployment disappeared while "
                                 + ("loading" if wanted is ONLINE else "turning off"))
        if current.status != last_status:
            hooks.progress(str(address), action, f"status {current.status}")
            last_status = current.status
        if current.status in wanted:
            return
        if current.status == "ERROR" and wanted is ONLINE:
            raise ResourceFailed(f"{address}: the platform reports ERROR: {current.error or 'no reason given'}")
        if time.monotonic() > deadline:
            raise ResourceFailed(
                f"{address}: still {current.status} after {options.wait_timeout_s:.0f}s"
            )
        current = None
        await asyncio.sleep(next(delays))


async def _run_job(
    address: Address,
    change: dict[str, Any],
    platform: Platform,
    state: _State,
    hooks: Hooks,
    options: ExecutorOptions,
) -> None:
    from adaptive_deploy.config import envref

    after: dict[str, Any] = change.get("after") or {}
    args = envref.resolve(after.get("args") or {}, options.env)
    job: LiveJob = await platform.create_job(
        name=address.name, recipe=after["recipe"], project=after["project"], args=args,
        num_gpus=after.get("num_gpus"), compute_pool=after.get("compute_pool"),
    )
    await _record(state, change, LiveState(jobs={job.name: job}), job.id)
    deadline = time.monotonic() + options.wait_timeout_s
    last: tuple[str | None, float | None] = (None, None)
    delays = poll_delays(options.poll_interval_s)
    while True:
        if (job.status, round(job.progress, 2)) != last:
            last = (job.status, round(job.progress, 2))
            extra = {"output_model": job.output_model} if job.output_model else {}
            hooks.progress(
                str(address), "run", f"{job.status} {job.progress:.0%}", job.progress, extra,
            )
        if job.status in ("COMPLETED", "FAILED", "CANCELED"):
            break
        if time.monotonic() > deadline:
            raise ResourceFailed(f"{address}: still {job.status} after {options.wait_timeout_s:.0f}s")
        await asyncio.sleep(next(delays))
        job = await platform.get_job(job.id)
    await _record(state, change, LiveState(jobs={job.name: job}), job.id)
    if job.status != "COMPLETED":
        raise ResourceFailed(f"{address}: job {job.status}: {job.error or 'no reason given'}")


def _observed_record(change: dict[str, Any], live: LiveState) -> ResourceRecord:
    from adaptive_deploy.plan import resources

    observed = dict(change["before"])
    return ResourceRecord(
        address=change["address"], type=change["type"], applied=dict(change["after"]),
        observed=observed, fingerprint=resources.fingerprint(observed),
        platform_id=resources.platform_id(live, change["address"]),
    )


async def _record_intent(state: _State, change: dict[str, Any]) -> None:
    """Commit the intent of a create before its platform call (see the module docstring)."""
    from adaptive_deploy.plan import resources

    await state.put(
        ResourceRecord(
            address=change["address"], type=change["type"],
            applied=dict(change.get("after") or {}), observed={},
            fingerprint=resources.ABSENT_FINGERPRINT, pending=PENDING_CREATE,
        )
    )


def _changed_fields(change: Mapping[str, Any]) -> set[str]:
    return {str(d["path"]).split(".")[0] for d in change.get("diff") or []}


async def _record(state: _State, change: dict[str, Any], live: LiveState,
                  platform_id: str) -> None:
    """Commit the resource's record: the desired value applied and the live value observed."""
    from adaptive_deploy.plan import resources

    address = change["address"]
    observed = resources.observed(live).get(address, {})
    await state.put(
        ResourceRecord(
            address=address,
            type=change["type"],
            applied=dict(change.get("after") or {}),
            observed=observed,
            fingerprint=resources.fingerprint(observed),
            platform_id=platform_id,
        )
    )


__all__ = ["ApplyResult", "ExecutorOptions", "ResourceFailed", "ResourceResult", "execute",
           "update_fields"]
