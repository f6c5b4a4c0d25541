"""What every rule reads: the workspace, resolved models and pools, live data, and a locator.

Rules never look up YAML positions themselves: they name the YAML path of the offending node
and `RuleContext.error` / `.warning` turn it into a located Diagnostic through the `locate`
callable (the loader's `SourceMap.locate`). Tests pass a fake locator and build `Workspace`
objects directly.

Resolution order for a model key: the config entry, then live data, then the catalog (by key).
Defaults for a compute config nobody states are the platform's (tp 1, 65,536 KV tokens).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adaptive_deploy.diagnostics import Diagnostic, Severity, YamlPath
from adaptive_deploy.rules import catalog
from adaptive_deploy.rules.catalog import Architecture, Gpu

if TYPE_CHECKING:
    from adaptive_deploy.config.models import DeploymentSpec, MemoryRules, Workspace
    from adaptive_deploy.live import LiveState
    from adaptive_deploy.rules.overhead import Settings

Locate = Callable[[YamlPath], tuple[str | None, int | None, int | None]]

# The platform's default computeConfig for a registry model (what the seeded emulator uses too).
DEFAULT_TP = 1
DEFAULT_KV_CACHE_LEN = 65536
DEFAULT_MAX_SEQ_LEN = 32768
# vLLM's default max_lora_rank: the slot size when an adapter's rank is not stated.
DEFAULT_LORA_RANK = 16
# Sliding-window layers are charged per active sequence (memory.md §1). Not in the config
# schema yet: a `rules.memory.concurrent_sequences` field, when added, is picked up.
DEFAULT_CONCURRENT_SEQUENCES = 64

SPECDEC_RECIPE = "specdec_alignment"


def _no_location(path: YamlPath) -> tuple[str | None, int | None, int | None]:
    return (None, None, None)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model key resolved against config, live data and the catalog."""

    key: str
    in_config: bool
    in_live: bool
    architecture: Architecture | None
    architecture_name: str          # what was asked for (config value or the key itself)
    precision: str
    kv_cache_dtype: str
    tp: int
    kv_cache_len: int
    max_seq_len: int
    adapter_of: str | None
    rank: int | None
    draft: Architecture | None
    draft_name: str | None
    family: str | None
    supported_tp: tuple[int, ...]
    architecture_error: str | None = None   # why an architecture file could not be used

    @property
    def is_adapter(self) -> bool:
        return self.adapter_of is not None


@dataclass(frozen=True)
class PoolInfo:
    """A compute pool as the rules see it: config expectations, else live data."""

    key: str
    gpu: Gpu | None
    gpu_label: str | None            # as written / reported, for messages when unknown
    gpus_per_replica: int
    replicas: int
    source: str                      # "config" | "live"
    capabilities: tuple[str, ...] | None = None

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_replica * self.replicas


@dataclass(frozen=True, slots=True)
class DeploymentRef:
    """A model bound to a project: from config (managed) or an unmanaged live deployment."""

    project: str
    model: str
    pools: tuple[str, ...] | None    # None: no placement stated
    path: YamlPath
    spec: DeploymentSpec | None = None
    managed: bool = True

    @property
    def address(self) -> str:
        return f"deployment.{self.project}/{self.model}"


class RuleContext:
    """Workspace + live data + locator, with cached resolution shared by every rule."""

    def __init__(
        self,
        workspace: Workspace,
        locate: Locate | None = None,
        live: LiveState | None = None,
    ) -> None:
        self.workspace = workspace
        self.live = live
        self._locate = locate or _no_location
        self._models: dict[str, ModelInfo | None] = {}
        self._config_files: dict[str, tuple[Architecture | None, str | None, str | None]] = {}
        self._settings: dict[tuple[str, str | None], Settings] = {}
        # (base, pool) → {adapter: rank}; built on first use by rules.memory
        self.adapter_index: dict[tuple[str, str | None], dict[str, int]] | None = None
        # deployment address → its fit rows (no what-if override); filled by rules.memory
        self.fit_rows: dict[str, list[Any]] = {}
        # Indexes a rule builds once per context (e.g. models by producing job)
        self.memo: dict[str, Any] = {}

    # -- diagnostics -------------------------------------------------------------------------

    def locate(self, path: YamlPath) -> tuple[str | None, int | None, int | None]:
        """(file, line, column) of the YAML node `path` (or its nearest ancestor)."""
        return self._locate(tuple(path))

    def diagnostic(self, severity: Severity, code: str, message: str, path: YamlPath) -> Diagnostic:
        """A Diagnostic located at the YAML node `path` (or its nearest ancestor)."""
        file, line, column = self._locate(tuple(path))
        return Diagnostic(severity, code, message, file, line, column, tuple(path))

    def error(self, code: str, message: str, path: YamlPath) -> Diagnostic:
        """A located error."""
        return self.diagnostic(Severity.ERROR, code, message, path)

    def warning(self, code: str, message: str, path: YamlPath) -> Diagnostic:
        """A located warning."""
        return self.diagnostic(Severity.WARNING, code, message, path)

    # -- settings ----------------------------------------------------------------------------

    @property
    def memory_rules(self) -> MemoryRules:
        return self.workspace.rules.memory

    def memory_settings(self, gpu: Gpu, pool_key: str | None = None) -> Settings:
        """Memory settings for `gpu` on a pool: its `memory` block, then `rules.memory`, then
        the calibrated defaults for the GPU's class."""
        from adaptive_deploy.rules.overhead import resolve

        key = (gpu.name, pool_key)
        if key not in self._settings:
            spec = self.workspace.compute_pools.get(pool_key) if pool_key else None
            self._settings[key] = resolve(gpu, self.memory_rules, spec.memory if spec else None)
        return self._settings[key]

    def architecture_file(self, relpath: str) -> tuple[Architecture | None, str | None, str | None]:
        """(architecture, declared weight format, error) of a config.json the configuration
        names, read once per context from the workspace's file source."""
        if relpath not in self._config_files:
            from adaptive_deploy.rules import hfconfig

            name = relpath.rsplit("/", 2)[-2] if relpath.count("/") else relpath
            try:
                arch, precision = hfconfig.load(name, relpath, getattr(self.workspace, "_files", None))
                self._config_files[relpath] = (arch, precision, None)
            except hfconfig.HfConfigError as exc:
                self._config_files[relpath] = (None, None, str(exc))
        return self._config_files[relpath]

    @property
    def concurrent_sequences(self) -> int:
        value = getattr(self.memory_rules, "concurrent_sequences", None)
        return int(value) if value else DEFAULT_CONCURRENT_SEQUENCES

    # -- models ------------------------------------------------------------------------------

    def model(self, key: str) -> ModelInfo | None:
        """The resolved model, or None when neither config nor live data knows the key."""
        if key not in self._models:
            self._models[key] = None  # guards against adapter_of cycles while resolving
            self._models[key] = self._resolve_model(key)
        return self._models[key]

    def _resolve_model(self, key: str) -> ModelInfo | None:
        from adaptive_deploy.config.models import InlineArchitecture
        from adaptive_deploy.rules import hfconfig

        spec = self.workspace.models.get(key)
        live_model = self.live.models.get(key) if self.live else None
        if spec is None and live_model is None:
            return None
        adapter_of = spec.adapter_of if spec and spec.adapter_of else None
        if adapter_of is None and live_model is not None and live_model.is_adapter:
            adapter_of = live_model.backbone
        arch: Architecture | None
        arch_error = declared_precision = None
        arch_spec = spec.architecture if spec else None
        if isinstance(arch_spec, InlineArchitecture):
            arch, arch_name = catalog.architecture_from_inline(key, arch_spec), key
        elif isinstance(arch_spec, str) and hfconfig.is_config_path(arch_spec):
            arch, declared_precision, arch_error = self.architecture_file(arch_spec)
            arch_name = arch_spec
        elif isinstance(arch_spec, str):
            arch, arch_name = catalog.find_architecture(arch_spec), arch_spec
        elif adapter_of is not None:
            # An adapter has no shape of its own: it rides on its base model.
            base = self.model(adapter_of) if adapter_of != key else None
            arch = base.architecture if base else None
            arch_name = base.architecture_name if base else adapter_of
        else:
            arch, arch_name = catalog.find_architecture(key), key
        cc = spec.compute_config if spec else None
        live_cc = live_model.compute_config if live_model else None
        tp = (cc.tp if cc else None) or (live_cc.tp if live_cc else None) or DEFAULT_TP
        kv = (
            (cc.kv_cache_len if cc else None)
            or (live_cc.kv_cache_len if live_cc else None)
            or DEFAULT_KV_CACHE_LEN
        )
        seq = (
            (cc.max_seq_len if cc else None)
            or (live_cc.max_seq_len if live_cc else None)
            or DEFAULT_MAX_SEQ_LEN
        )
        draft_name = spec.draft if spec and spec.draft else self._draft_from_job(key)
        draft = catalog.find_architecture(draft_name) if draft_name else None
        precision = (
            (spec.precision if spec else None) or declared_precision
            or (arch.precision if arch else "bf16")
        )
        family = arch.family if arch else (live_model.family if live_model else None)
        return ModelInfo(
            key=key,
            in_config=spec is not None,
            in_live=live_model is not None,
            architecture=arch,
            architecture_name=arch_name,
            precision=precision,
            kv_cache_dtype=(spec.kv_cache_dtype if spec else None) or "auto",
            tp=tp,
            kv_cache_len=kv,
            max_seq_len=seq,
            adapter_of=adapter_of,
            rank=spec.rank if spec else None,
            draft=draft,
            draft_name=draft_name,
            family=family,
            supported_tp=tuple(live_model.supported_tp) if live_model else (),
            architecture_error=arch_error,
        )

    def _draft_from_job(self, key: str) -> str | None:
        """The draft a draft-training job used for the model it produces (`produced_by`)."""
        spec = self.workspace.models.get(key)
        job = self.workspace.jobs.get(spec.produced_by) if spec and spec.produced_by else None
        if job is None or job.recipe != SPECDEC_RECIPE:
            return None
        draft = job.args.get("draft_model")
        return draft if isinstance(draft, str) else None

    def model_path(self, key: str) -> YamlPath:
        """YAML path of a model's config entry (falls back to `models`)."""
        return ("models", key)

    # -- pools -------------------------------------------------------------------------------

    @functools.cached_property
    def pools(self) -> dict[str, PoolInfo]:
        """Every pool known to config or live data; config expectations win offline."""
        out: dict[str, PoolInfo] = {}
        live_pools = self.live.compute_pools if self.live else {}
        for key, lp in live_pools.items():
            label = lp.gpu_types
            out[key] = PoolInfo(
                key=key,
                gpu=catalog.find_gpu(label) if label else None,
                gpu_label=label,
                gpus_per_replica=lp.gpus_per_replica,
                replicas=lp.replicas,
                source="live",
                capabilities=tuple(lp.capabilities),
            )
        for key, spec in self.workspace.compute_pools.items():
            if key in out:
                continue  # live data is the truth; pool_expectations reports disagreements
            out[key] = PoolInfo(
                key=key,
                gpu=catalog.find_gpu(spec.gpu),
                gpu_label=spec.gpu,
                gpus_per_replica=spec.gpus_per_replica,
                replicas=spec.replicas,
                source="config",
            )
        return out

    def pool(self, key: str) -> PoolInfo | None:
        """A pool by key, or None when neither config nor live data knows it."""
        return self.pools.get(key)

    # -- deployments -------------------------------------------------------------------------

    @functools.cached_property
    def deployments(self) -> list[DeploymentRef]:
        """Config deployments in config order."""
        out: list[DeploymentRef] = []
        for project_key, project in self.workspace.projects.items():
            for model_key, dep in project.deployments.items():
                pools = tuple(dep.placement.compute_pools) if dep.placement else None
                if pools is None and self.live is not None:
                    live_dep = self.live.deployments.get((project_key, model_key))
                    if live_dep is not None and live_dep.compute_pools:
                        pools = tuple(live_dep.compute_pools)
                out.append(
                    DeploymentRef(
                        project=project_key,
                        model=model_key,
                        pools=pools,
                        path=("projects", project_key, "deployments", model_key),
                        spec=dep,
                    )
                )
        return out

    @functools.cached_property
    def unmanaged_deployments(self) -> list[DeploymentRef]:
        """Live deployments in projects this workspace does not manage: they stay as they are
        and keep using GPUs. (Live deployments inside managed projects are the planner's
        business: config is their desired state.)"""
        if self.live is None:
            return []
        out = []
        for (project_key, model_key), dep in sorted(self.live.deployments.items()):
            if project_key in self.workspace.projects:
                continue
            out.append(
                DeploymentRef(
                    project=project_key,
                    model=model_key,
                    pools=tuple(dep.compute_pools),
                    path=(),
                    managed=False,
                )
            )
        return out

    def all_deployments(self) -> list[DeploymentRef]:
        """Config deployments followed by unmanaged live ones."""
        return [*self.deployments, *self.unmanaged_deployments]
