"""`GraphQLPlatform`: the `Platform` protocol implemented over the platform's GraphQL API.

Reads are batched: `read_live` fetches models, compute pools, projects with their model services
and the first page of jobs in ONE request (more only when there are more jobs than a page).

Non-idempotent mutations (addModelsToProject, deployModel, createProject, createJob) go through
`_send_once`: when the transport reports an unknown outcome (timeout, dropped connection, 502/504
after sending), the relevant live object is re-read and the mutation is re-sent only if the
platform shows it was not applied — at once (a response lost after the commit), and before
concluding "not applied", twice more after waiting at least the request timeout each time: a
request the platform was still working on when the client gave up lands meanwhile (a re-send
then would create a second job). A job is recognisable because each run gets a name of its own
(`<name>@<run id>`), so the re-read finds exactly that run. Idempotent ones (updates, reads) are
retried by the transport.

Paging is bounded: a platform that keeps answering `hasNextPage: true` (with a cursor it already
gave, or new ones forever) is an error after MAX_PAGES, never an endless loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from adaptive_deploy.client import documents
from adaptive_deploy.client.responses import (
    AddModelsOut,
    ComputePoolsOut,
    DeployModelOut,
    DescribeJobOut,
    DescribeModelServiceOut,
    DescribeProjectOut,
    JobConnectionOut,
    JobOut,
    ModelOut,
    ModelServiceOut,
    ProjectModelServicesOut,
    ProjectOut,
    ReadLiveOut,
    parse,
    parse_field,
)
from adaptive_deploy.client.transport import GraphQLTransport, OutcomeUnknown, Sleep
from adaptive_deploy.errors import AuthError, EntityNotFound, PlatformError, PlatformUnavailable
from adaptive_deploy.live import LiveDeployment, LiveJob, LiveModel, LiveProject, LiveState

log = logging.getLogger("adaptive_deploy.client")

T = TypeVar("T")

JOBS_PAGE_SIZE = 500
DEFAULT_JOB_GPUS = 1  # JobInput.numGpus is required by the API; the SDK has no default either
# 400 pages of 500 jobs (200,000 jobs): far beyond any real platform, and a bound on one that
# never says "last page" while lying about its totalCount (~20 s of requests, not forever).
MAX_PAGES = 400
# Re-reads after an unknown outcome, each after waiting at least the request timeout.
SETTLE_CHECKS = 2
# A job's name on the platform: the configuration's name and the id of this run.
RUN_SEPARATOR = "@"


def job_run_name(name: str, run_id: str) -> str:
    """The platform name of one run of job `name` (keys never hold `@`)."""
    return f"{name}{RUN_SEPARATOR}{run_id}"


def job_base_name(platform_name: str) -> str:
    """The configuration's job name of a platform job name (`name@run` → `name`)."""
    base, sep, _ = platform_name.rpartition(RUN_SEPARATOR)
    return base if sep and base else platform_name


def _live_job(job: JobOut) -> LiveJob:
    live = job.to_live()
    return dataclasses.replace(live, name=job_base_name(live.name))


class GraphQLPlatform:
    """Talks to one control plane (remote, or the embedded emulator) through `transport`."""

    def __init__(
        self,
        transport: GraphQLTransport,
        *,
        notice: str | None = None,
        jobs_page_size: int = JOBS_PAGE_SIZE,
        sleep: Sleep | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._transport = transport
        self.notice = notice
        self.poll_interval_s = poll_interval_s
        self._jobs_page_size = jobs_page_size
        self._sleep = sleep
        self._on_close = on_close
        # Pool id → key (and key → key). Placements may name pools by id (IdOrKey).
        self._pool_keys: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"GraphQLPlatform({self._transport!r})"

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._transport.request_count

    @request_count.setter
    def request_count(self, value: int) -> None:
        self._transport.request_count = value

    async def aclose(self) -> None:
        """Close connections (and shut down the embedded platform, if any)."""
        await self._transport.aclose()
        if self._on_close is not None:
            await self._on_close()

    # -- plumbing --------------------------------------------------------------------------

    async def _query(self, name: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._transport.execute(
            documents.document(name), variables, operation_name=name
        )

    async def _mutate(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        """An idempotent mutation: the transport may re-send it."""
        return await self._transport.execute(
            documents.document(name), variables, operation_name=name, mutation=True
        )

    async def _send_once(
        self,
        name: str,
        variables: dict[str, Any],
        parse: Callable[[dict[str, Any]], T],
        find: Callable[[], Awaitable[T | None]],
    ) -> T:
        """A non-idempotent mutation: on an unknown outcome, `find()` re-reads live state and
        the mutation is re-sent only when it finds nothing.

        The re-read waits a jittered moment first, so a request the platform is still working
        on has time to land. If a re-send is then refused (e.g. "already exists") because the
        first send did land after all, `find()` is asked once more before giving up.
        """
        attempts = self._transport.max_retries + 1
        uncertain = False
        for _attempt in range(attempts):
            try:
                data = await self._transport.execute(
                    documents.document(name), variables, operation_name=name,
                    mutation=True, idempotent=False,
                )
            except OutcomeUnknown as exc:
                uncertain = True
                log.warning("%s; re-reading live state before deciding to re-send", exc)
                found = await self._settle(find)
                if found is not None:
                    log.info("%s had been applied; not re-sending", name)
                    return found
                continue
            except AuthError:
                raise
            except PlatformError:
                if uncertain and (found := await find()) is not None:
                    return found
                raise
            return parse(data)
        raise PlatformUnavailable(
            f"{name}: the outcome stayed unknown after {attempts} attempts and live state "
            "shows it was not applied"
        )

    async def _settle(self, find: Callable[[], Awaitable[T | None]]) -> T | None:
        """After an unknown outcome: the object, if the mutation landed. Looked for at once,
        then SETTLE_CHECKS times more, each after waiting at least the request timeout (with
        jitter), before concluding that it did not."""
        found = await find()
        if found is not None:
            return found
        sleep = self._sleep or asyncio.sleep
        for _ in range(SETTLE_CHECKS):
            await sleep(self._transport.timeout_s * (1.0 + 0.25 * random.random()))
            found = await find()
            if found is not None:
                return found
        return None

    # -- reads -----------------------------------------------------------------------------

    async def read_live(self, projects: Iterable[str] | None = None) -> LiveState:
        """The whole live state in one request (plus one per extra page of jobs). With
        `projects`, deployments and jobs are limited to those projects; models and pools are
        always complete because the rules need them."""
        data = await self._query("ReadLive", {"jobsPage": {"first": self._jobs_page_size}})
        # The projects hold every deployment of the platform: parsed and mapped one project at
        # a time below, each freed once mapped, never all at once as response objects (~2 KB
        # per deployment at the peak of a 50,000-deployment read). Anything but a list is
        # left in place, for the parse of the whole answer to refuse (null reads as none).
        raw_projects = data.get("projects")
        if isinstance(raw_projects, list):
            data["projects"] = []
        else:
            raw_projects = []
        out = parse(ReadLiveOut, data, "ReadLive")
        del data
        jobs = list(out.jobs.nodes)
        page = out.jobs.page_info
        pages = _Pages("jobs", out.jobs.total_count, self._jobs_page_size)
        while page.has_next_page and page.end_cursor:
            pages.next(page.end_cursor)
            more = await self._list_jobs({"first": self._jobs_page_size, "after": page.end_cursor})
            jobs.extend(more.nodes)
            page = more.page_info

        wanted = set(projects) if projects is not None else None
        state = LiveState()
        state.models = {m.key: m.to_live() for m in out.models}
        pool_keys: dict[str, str] = {}
        for pool in out.compute_pools:
            state.compute_pools[pool.key] = pool.to_live()
            pool_keys[pool.id] = pool.key
            pool_keys[pool.key] = pool.key
        self._pool_keys = pool_keys
        for i, item in enumerate(raw_projects):
            raw_projects[i] = None
            project = parse(ProjectOut, item, "ReadLive", f"projects[{i}]")
            if wanted is not None and project.key not in wanted:
                continue
            state.projects[project.key] = project.to_live()
            for service in project.model_services:
                if service.deleted:
                    continue
                if not project.is_archived:
                    state.bound.setdefault(service.model_key(), set()).add(project.key)
                if not service.is_deployed():
                    continue
                dep = service.to_live(project.key, pool_keys)
                state.deployments[(project.key, dep.model)] = dep
        # Oldest first, so the newest job of a name wins.
        for job in sorted(jobs, key=lambda j: j.created_at or 0):
            live = _live_job(job)
            if wanted is not None and live.project not in wanted:
                continue
            state.jobs[live.name] = live
        return state

    async def _list_jobs(
        self, page: dict[str, Any], filter: dict[str, Any] | None = None
    ) -> JobConnectionOut:
        # jobs(filter: ListJobsFilterInput!) has a server default, used only when $filter is
        # left out: an explicit null into a non-null argument is an error.
        variables: dict[str, Any] = {"page": page}
        if filter is not None:
            variables["filter"] = filter
        data = await self._query("ListJobs", variables)
        return parse(JobConnectionOut, data.get("jobs"), "ListJobs", "jobs")

    async def _jobs_named(self, name: str) -> list[JobOut]:
        jobs: list[JobOut] = []
        page: dict[str, Any] = {"first": self._jobs_page_size}
        pages: _Pages | None = None
        while True:
            conn = await self._list_jobs(page, {"name": name})
            jobs.extend(j for j in conn.nodes if j.name == name)
            if not (conn.page_info.has_next_page and conn.page_info.end_cursor):
                return jobs
            if pages is None:
                pages = _Pages(f"jobs named {name}", conn.total_count, self._jobs_page_size)
            pages.next(conn.page_info.end_cursor)
            page = {"first": self._jobs_page_size, "after": conn.page_info.end_cursor}

    async def _service_to_live(self, service: ModelServiceOut, project: str) -> LiveDeployment:
        pools = service.placement.compute_pools if service.placement else []
        if any(p not in self._pool_keys for p in pools):
            data = await self._query("ListComputePools")
            for pool in parse(ComputePoolsOut, data, "ListComputePools").compute_pools:
                self._pool_keys[pool.id] = pool.key
                self._pool_keys[pool.key] = pool.key
        return service.to_live(project, self._pool_keys)

    async def _describe_service(self, project: str, model: str) -> ModelServiceOut | None:
        """The model service binding `model` to `project`, deployed or not; None if unbound."""
        try:
            data = await self._query("DescribeModelService", {"project": project, "model": model})
        except EntityNotFound:
            return None
        project_data = parse(DescribeModelServiceOut, data, "DescribeModelService").project
        service = project_data.model_service if project_data is not None else None
        if service is None or service.deleted:
            return None
        return service

    async def get_deployment(self, project: str, model: str) -> LiveDeployment | None:
        """One deployment (cheap: used to poll status), or None when it does not exist. A model
        bound to the project but never deployed is not a deployment (see `is_deployed`)."""
        service = await self._describe_service(project, model)
        if service is None or not service.is_deployed():
            return None
        return await self._service_to_live(service, project)

    async def _get_project(self, key: str) -> LiveProject | None:
        try:
            data = await self._query("DescribeProject", {"input": key})
        except EntityNotFound:
            return None
        proj = parse(DescribeProjectOut, data, "DescribeProject").project
        return proj.to_live() if proj is not None else None

    async def get_job(self, job_id: str) -> LiveJob:
        """A job by id; EntityNotFound when the platform does not know it."""
        data = await self._query("DescribeJob", {"id": job_id})
        job = parse(DescribeJobOut, data, "DescribeJob").job
        if job is None:
            raise EntityNotFound(f"EntityNotFound: job {job_id}")
        return _live_job(job)

    # -- models ----------------------------------------------------------------------------

    async def update_model_compute_config(
        self, model: str, *, tp: int | None = None, kv_cache_len: int | None = None,
        max_seq_len: int | None = None,
    ) -> LiveModel:
        """updateModelComputeConfig with only the given fields."""
        config = _camel({"tp": tp, "kv_cache_len": kv_cache_len, "max_seq_len": max_seq_len})
        data = await self._mutate("UpdateModelComputeConfig", {"idOrKey": model, "input": config})
        return parse_field(ModelOut, data, "UpdateModelComputeConfig", "updateModelComputeConfig").to_live()

    # -- projects --------------------------------------------------------------------------

    async def create_project(
        self, key: str, *, name: str, description: str | None = None
    ) -> LiveProject:
        """createProject; on an unknown outcome, re-sent only if the project is absent."""
        project_input = _camel({"key": key, "name": name, "description": description})
        return await self._send_once(
            "CreateProject", {"input": project_input},
            lambda d: parse_field(ProjectOut, d, "CreateProject", "createProject").to_live(),
            lambda: self._get_project(key),
        )

    async def update_project(
        self, key: str, *, name: str | None = None, description: str | None = None,
        is_archived: bool | None = None,
    ) -> LiveProject:
        """updateProject with only the given fields (is_archived=True is how delete works)."""
        update = _camel({"name": name, "description": description, "is_archived": is_archived})
        data = await self._mutate("UpdateProject", {"idOrKey": key, "input": update})
        return parse_field(ProjectOut, data, "UpdateProject", "updateProject").to_live()

    # -- deployments -----------------------------------------------------------------------

    async def deploy(
        self, project: str, model: str, *, compute_pools: list[str],
        max_ttft_ms: int | None = None, num_draft_steps: int | None = None,
        is_default: bool | None = None, desired_online: bool | None = None,
        attached: bool = False,
    ) -> LiveDeployment:
        """addModelsToProject (unless `attached`: the caller bound it with `attach_models`) +
        deployModel (+ updateModelService for is_default / desired_online when they differ
        from what deployModel left)."""
        if not attached:
            failures = await self.attach_models(project, [model])
            if failures:
                reasons = "; ".join(f"{m}: {r}" for m, r in failures.items())
                raise PlatformError(f"addModelsToProject to {project} failed: {reasons}")
        deploy_input: dict[str, Any] = {
            "project": project,
            "model": model,
            "placement": _placement(compute_pools, max_ttft_ms),
        }
        if num_draft_steps is not None:
            deploy_input["speculativeDecoding"] = {"numDraftSteps": num_draft_steps}

        async def find_deployed() -> DeployModelOut | None:
            current = await self._describe_service(project, model)
            if current is None or not current.is_deployed():
                return None
            live = await self._service_to_live(current, project)
            # Deployed by our call iff it now has the placement we asked for. (Its warnings
            # were in the answer that was lost.)
            if set(live.compute_pools) != set(compute_pools):
                return None
            return DeployModelOut(modelService=current)

        result = await self._send_once(
            "DeployModel", {"input": deploy_input},
            lambda d: parse_field(DeployModelOut, d, "DeployModel", "deployModel"),
            find_deployed,
        )
        deployment = await self._service_to_live(result.model_service, project)
        flags: dict[str, Any] = {}
        if is_default is not None and is_default != deployment.is_default:
            flags["is_default"] = is_default
        if desired_online is not None and desired_online != deployment.desired_online:
            flags["desired_online"] = desired_online
        if flags:
            deployment = await self.update_deployment(project, model, **flags)
        deployment.warnings = list(result.warnings)
        return deployment

    async def attach_models(self, project: str, models: list[str]) -> dict[str, str]:
        """addModelsToProject with every model of the list in ONE request; returns the models
        the platform refused, with its reason ("already attached" is what we wanted, not a
        refusal). On an unknown outcome, the project's bindings are re-read (one request) and
        the mutation is re-sent only when some model is still unbound."""
        wanted = list(dict.fromkeys(models))

        async def find_attached() -> dict[str, str] | None:
            bound = await self._bound_models(project)
            return {} if bound is not None and set(wanted) <= bound else None

        def check(data: dict[str, Any]) -> dict[str, str]:
            out = parse_field(AddModelsOut, data, "AddModelsToProject", "addModelsToProject")
            return {f.model: f.reason for f in out.failures
                    if "already" not in f.reason.lower()}

        return await self._send_once(
            "AddModelsToProject", {"input": {"project": project, "models": wanted}},
            check, find_attached,
        )

    async def _bound_models(self, project: str) -> set[str] | None:
        """Keys of the models bound to `project`; None when the project does not exist."""
        try:
            data = await self._query("ProjectModelServices", {"project": project})
        except EntityNotFound:
            return None
        out = parse(ProjectModelServicesOut, data, "ProjectModelServices").project
        if out is None:
            return None
        return {s.model.key for s in out.model_services
                if not s.deleted and s.model is not None and s.model.key}

    async def update_deployment(
        self, project: str, model: str, *, compute_pools: list[str] | None = None,
        max_ttft_ms: int | None = None, num_draft_steps: int | None = None,
        is_default: bool | None = None, desired_online: bool | None = None,
    ) -> LiveDeployment:
        """updateModelService with only the given fields. The platform wants the pool list
        whenever max_ttft_ms is sent, so the current pools are read when not given."""
        service_input: dict[str, Any] = {"project": project, "modelService": model}
        if max_ttft_ms is not None and compute_pools is None:
            current = await self.get_deployment(project, model)
            if current is None:
                raise EntityNotFound(f"EntityNotFound: model service {model} in project {project}")
            compute_pools = current.compute_pools
        if compute_pools is not None:
            service_input["placement"] = _placement(compute_pools, max_ttft_ms)
        if num_draft_steps is not None:
            service_input["speculativeDecoding"] = {"numDraftSteps": num_draft_steps}
        service_input.update(_camel({"is_default": is_default, "desired_online": desired_online}))
        data = await self._mutate("UpdateModel", {"input": service_input})
        return await self._service_to_live(
            parse_field(ModelServiceOut, data, "UpdateModel", "updateModelService"), project
        )

    async def remove_deployment(self, project: str, model: str) -> None:
        """removeModelFromProject; no error if it (or its project) is already gone."""
        try:
            await self._mutate(
                "RemoveModelFromProject", {"input": {"project": project, "model": model}}
            )
        except EntityNotFound:
            return

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(
        self, *, name: str, recipe: str, project: str, args: dict[str, Any],
        num_gpus: int | None = None, compute_pool: str | None = None,
    ) -> LiveJob:
        """createJob for one run of job `name`, named `name@<run id>` on the platform: after an
        unknown outcome, the re-read by that name finds this run and nothing else, and it is
        re-sent (under the same name) only when the run stays absent (see `_settle`)."""
        run_name = job_run_name(name, uuid.uuid4().hex[:12])
        job_input: dict[str, Any] = {
            "recipe": recipe, "project": project, "args": args, "name": run_name,
            "numGpus": num_gpus if num_gpus is not None else DEFAULT_JOB_GPUS,
        }
        if compute_pool is not None:
            job_input["computePool"] = compute_pool

        async def find_run() -> LiveJob | None:
            runs = await self._jobs_named(run_name)
            if not runs:
                return None
            return _live_job(min(runs, key=lambda j: j.created_at or 0))

        return await self._send_once(
            "CreateJob", {"input": job_input},
            lambda d: _live_job(parse_field(JobOut, d, "CreateJob", "createJob")),
            find_run,
        )


class _Pages:
    """Bounds a paged read: a cursor seen before, more pages than the first page's
    `totalCount` allows (plus slack for jobs created meanwhile), or more than MAX_PAGES, is
    an error (a platform that always answers hasNextPage: true would loop forever)."""

    def __init__(self, what: str, total: int | None = None, page_size: int = 1) -> None:
        self.what = what
        self.seen: set[str] = set()
        self.limit = MAX_PAGES
        if total is not None and total >= 0 and page_size > 0:
            self.limit = min(MAX_PAGES, -(-total // page_size) + 2)

    def next(self, cursor: str) -> None:
        if cursor in self.seen:
            raise PlatformError(
                f"the platform's list of {self.what} does not end: it returned the same page "
                "cursor twice (hasNextPage stays true)"
            )
        self.seen.add(cursor)
        if len(self.seen) >= self.limit:
            raise PlatformError(
                f"the platform's list of {self.what} does not end: still hasNextPage after "
                f"{len(self.seen)} pages"
            )


def _placement(compute_pools: list[str], max_ttft_ms: int | None) -> dict[str, Any]:
    # Platform rule: the pool list always travels with maxTtftMs.
    placement: dict[str, Any] = {"computePools": list(compute_pools)}
    if max_ttft_ms is not None:
        placement["maxTtftMs"] = max_ttft_ms
    return placement


def _camel(fields: dict[str, Any]) -> dict[str, Any]:
    """snake_case → camelCase, leaving out unset (None) fields: inputs are sent exclude_unset."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        head, *rest = name.split("_")
        out[head + "".join(p.title() for p in rest)] = value
    return out
