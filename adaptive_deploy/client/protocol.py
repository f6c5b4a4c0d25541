"""What the rest of the tool needs from the platform: the `Platform` protocol.

`adaptive_deploy.client.connect(...)` returns an implementation talking GraphQL over
`httpx.AsyncClient`, either to a remote control plane or, in the embedded default, to the
emulator in-process through `httpx.ASGITransport` — one code path. Errors raised are those of
`adaptive_deploy.errors` (AuthError, EntityNotFound, PlatformError, PlatformUnavailable).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from adaptive_deploy.live import LiveDeployment, LiveJob, LiveModel, LiveProject, LiveState


class Platform(Protocol):
    request_count: int                   # HTTP requests sent so far (benchmarks, tests)
    notice: str | None                   # one-line notice, e.g. the embedded platform is used
    poll_interval_s: float               # how often to poll a deployment or job while waiting

    async def aclose(self) -> None: ...

    async def read_live(self, projects: Iterable[str] | None = None) -> LiveState:
        """The whole live state (or the given projects' part) in a handful of requests."""
        ...

    async def update_model_compute_config(
        self, model: str, *, tp: int | None = None, kv_cache_len: int | None = None,
        max_seq_len: int | None = None,
    ) -> LiveModel: ...

    async def create_project(
        self, key: str, *, name: str, description: str | None = None
    ) -> LiveProject: ...

    async def update_project(
        self, key: str, *, name: str | None = None, description: str | None = None,
        is_archived: bool | None = None,
    ) -> LiveProject: ...

    async def deploy(
        self, project: str, model: str, *, compute_pools: list[str],
        max_ttft_ms: int | None = None, num_draft_steps: int | None = None,
        is_default: bool | None = None, desired_online: bool | None = None,
        attached: bool = False,
    ) -> LiveDeployment:
        """addModelsToProject (unless `attached`) + deployModel (+ updateModelService for
        is_default / desired_online). Safe against unknown outcomes: re-reads live state
        before re-sending. The platform's deployModel warnings come back in
        `LiveDeployment.warnings`."""
        ...

    async def attach_models(self, project: str, models: list[str]) -> dict[str, str]:
        """addModelsToProject for several models in one request; the models refused, with
        the platform's reason. Safe against unknown outcomes like `deploy`."""
        ...

    async def update_deployment(
        self, project: str, model: str, *, compute_pools: list[str] | None = None,
        max_ttft_ms: int | None = None, num_draft_steps: int | None = None,
        is_default: bool | None = None, desired_online: bool | None = None,
    ) -> LiveDeployment:
        """updateModelService with only the given fields."""
        ...

    async def remove_deployment(self, project: str, model: str) -> None:
        """removeModelFromProject; no error if it is already gone."""
        ...

    async def get_deployment(self, project: str, model: str) -> LiveDeployment | None: ...

    async def create_job(
        self, *, name: str, recipe: str, project: str, args: dict[str, Any],
        num_gpus: int | None = None, compute_pool: str | None = None,
    ) -> LiveJob:
        """createJob. Safe against unknown outcomes: looks for a job of that name first."""
        ...

    async def get_job(self, job_id: str) -> LiveJob: ...
