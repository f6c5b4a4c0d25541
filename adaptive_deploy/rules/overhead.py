"""The per-GPU overhead model: memory an engine uses besides weights and KV cache.

    overhead   = non_torch(tp) + activation + cudagraph
    activation = max(token_factor [* moe_token_factor] * max_batched_tokens * 2 B
                         * (hidden + 3 * intermediate per GPU),
                     sampler_factor * max_num_seqs * vocab * 4 B)

The coefficients and the defaults per GPU class live in `rules/data/overhead.yaml`, fitted to
the public dataset of engine logs (`tests/data/engine-memory.tsv`, see
docs/memory-calibration.md). The engine settings the terms depend on (`max_batched_tokens`,
`max_num_seqs`) and each term itself can be set in `rules.memory` and per pool
(`compute_pools.<key>.memory`); `overhead_gib_tp1` / `overhead_gib_tp_multi`, when set,
replace the whole calibrated overhead (the v1 fixed overhead).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adaptive_deploy.rules.catalog import Architecture, Gpu, _load_yaml

if TYPE_CHECKING:
    from adaptive_deploy.config.models import MemoryRules, PoolMemory

GIB = 1 << 30
SETTING_KEYS = (
    "utilization", "max_batched_tokens", "max_num_seqs", "non_torch_gib", "activation_gib",
    "cudagraph_gib", "overhead_gib_tp1", "overhead_gib_tp_multi", "tight_fraction",
)


@dataclass(frozen=True)
class Calibration:
    """The fitted coefficients and defaults (rules/data/overhead.yaml)."""

    non_torch_tp1: float
    non_torch_tp_multi: float
    token_factor: float
    moe_token_factor: float
    sampler_factor: float
    classes: dict[str, dict[str, float]]
    tight_margin_gib: float
    profiles: dict[str, dict[str, Any]]


@functools.cache
def calibration() -> Calibration:
    raw = _load_yaml("overhead.yaml")
    return Calibration(
        non_torch_tp1=float(raw["non_torch_gib"]["tp1"]),
        non_torch_tp_multi=float(raw["non_torch_gib"]["tp_multi"]),
        token_factor=float(raw["activation"]["token_factor"]),
        moe_token_factor=float(raw["activation"].get("moe_token_factor", 1.0)),
        sampler_factor=float(raw["activation"]["sampler_factor"]),
        classes={k: dict(v) for k, v in raw["classes"].items()},
        tight_margin_gib=float(raw["tight_margin_gib"]),
        profiles={k: dict(v) for k, v in raw["engine_profiles"].items()},
    )


@dataclass(frozen=True)
class Settings:
    """The memory settings that apply to one deployment on one pool, resolved: the pool's
    `memory` block, then `rules.memory`, then the calibrated default for the GPU's class."""

    utilization: float
    max_batched_tokens: int
    max_num_seqs: int
    non_torch_gib: float | None = None     # None: calibrated
    activation_gib: float | None = None
    cudagraph_gib: float | None = None
    overhead_gib_tp1: float | None = None   # legacy fixed overhead, replaces the model
    overhead_gib_tp_multi: float | None = None
    tight_fraction: float | None = None     # deprecated: the v1 fixed tight band
    profile: str = "default"                # engine generation (dataset checks only)


def resolve(gpu: Gpu, rules: MemoryRules | None = None, pool: PoolMemory | None = None,
            **overrides: Any) -> Settings:
    """Settings for `gpu` from a pool's memory block, `rules.memory` and the class defaults;
    keyword `overrides` win over all of them."""
    cal = calibration()
    cls = cal.classes.get(gpu.gpu_class, cal.classes["small"])
    values: dict[str, Any] = {}
    for key in SETTING_KEYS:
        value = None
        for layer in (pool, rules):
            if layer is not None and getattr(layer, key, None) is not None:
                value = getattr(layer, key)
                break
        values[key] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(
        utilization=float(values["utilization"] if values["utilization"] is not None else 0.90),
        max_batched_tokens=int(values["max_batched_tokens"] or cls["max_batched_tokens"]),
        max_num_seqs=int(values["max_num_seqs"] or cls["max_num_seqs"]),
        non_torch_gib=values["non_torch_gib"],
        activation_gib=values["activation_gib"],
        cudagraph_gib=values["cudagraph_gib"],
        overhead_gib_tp1=values["overhead_gib_tp1"],
        overhead_gib_tp_multi=values["overhead_gib_tp_multi"],
        tight_fraction=values["tight_fraction"],
        profile=str(values.get("profile") or "default"),
    )


@dataclass(frozen=True)
class Overhead:
    """Per-GPU overhead in bytes; `fixed` when a legacy overhead_gib_* setting replaced it."""

    non_torch: float
    activation: float
    cudagraph: float
    fixed: bool = False

    @property
    def total(self) -> float:
        return self.non_torch + self.activation + self.cudagraph


def intermediate_per_gpu(arch: Architecture, tp: int) -> float:
    """MLP width one token goes through on one GPU (MoE: the routed and shared experts it
    uses, plus the routing buffers of one hidden vector per chosen expert)."""
    if arch.moe is None:
        return arch.intermediate_size / tp
    m = arch.moe
    return ((m.top_k + m.shared_experts) * m.expert_intermediate_size + m.top_k * arch.hidden_size) / tp


def token_bytes(arch: Architecture, tp: int) -> float:
    """Activation bytes of one token in the profiling forward pass, before the fitted factor."""
    return 2.0 * (arch.hidden_size + 3 * intermediate_per_gpu(arch, tp))


def estimate_overhead(arch: Architecture, gpu: Gpu, tp: int, settings: Settings) -> Overhead:
    """The per-GPU overhead of `arch` at `tp` on `gpu` under `settings`."""
    fixed = settings.overhead_gib_tp1 if tp == 1 else settings.overhead_gib_tp_multi
    if fixed is not None:
        return Overhead(non_torch=0.0, activation=0.0, cudagraph=fixed * GIB, fixed=True)
    cal = calibration()
    profile = cal.profiles.get(settings.profile, cal.profiles["default"])
    if settings.non_torch_gib is not None:
        non_torch = settings.non_torch_gib * GIB
    else:
        non_torch = (cal.non_torch_tp1 if tp == 1 else cal.non_torch_tp_multi) * GIB
    if settings.activation_gib is not None:
        activation = settings.activation_gib * GIB
    else:
        factor = cal.token_factor * (cal.moe_token_factor if arch.moe is not None else 1.0)
        forward = factor * settings.max_batched_tokens * token_bytes(arch, tp)
        sampler_factor = float(profile.get("sampler_factor", cal.sampler_factor))
        sampler = sampler_factor * settings.max_num_seqs * arch.vocab_size * 4
        activation = max(forward, sampler)
    if settings.cudagraph_gib is not None:
        cudagraph = settings.cudagraph_gib * GIB
    elif profile.get("cudagraph_in_budget", True):
        cls = cal.classes.get(gpu.gpu_class, cal.classes["small"])
        cudagraph = float(cls["cudagraph_gib"]) * GIB
    else:
        cudagraph = 0.0
    return Overhead(non_torch=non_torch, activation=activation, cudagraph=cudagraph)
