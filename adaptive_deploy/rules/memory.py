"""The GPU-memory model: per-GPU need of one deployment on one GPU type (SPEC §3).

    usable = cuda_total(gpu) * utilization
    need   = weights/tp + draft_weights/tp + adapters * lora_slot(rank, tp)
           + kv_cache_len * (kv_bpt/min(tp, kv_heads) + draft_kv_bpt/min(tp, draft_kv_heads))
           + overhead                  (non-torch + activation + CUDA graphs: rules/overhead.py)

Facts and sources are in reference/memory.md; the overhead model is calibrated on the public
dataset tests/data/engine-memory.tsv (docs/memory-calibration.md). Refinements over the plain
formula: K/V projections are replicated (not split) once tp > kv_heads; an MLA latent cache is
not split across ranks at all; sliding-window layers are charged per active sequence, not per
cached token; quantised formats (rules/data/formats.yaml) keep embeddings and lm_head in bf16;
the KV cache is bf16 unless the model sets `kv_cache_dtype: fp8`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adaptive_deploy.rules.catalog import Architecture, Gpu, WeightFormat, weight_formats
from adaptive_deploy.rules.context import (
    DEFAULT_CONCURRENT_SEQUENCES,
    DEFAULT_LORA_RANK,
    DeploymentRef,
    RuleContext,
)
from adaptive_deploy.rules.overhead import Settings, calibration, estimate_overhead, resolve

if TYPE_CHECKING:
    from adaptive_deploy.config.models import MemoryRules, Workspace
    from adaptive_deploy.diagnostics import YamlPath
    from adaptive_deploy.live import LiveState

GIB = 1 << 30
BLOCK_SIZE = 16                       # vLLM's default KV block, in tokens
DEFAULT_PREFILL_CHUNK_TOKENS = 2048   # one prefill chunk (max_batched_tokens) in flight per step

FITS = "fits"
TIGHT = "tight"
DOES_NOT_FIT = "does-not-fit"
UNCHECKED = "unchecked"


# -- parameters and weights --------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCounts:
    """Parameters of one architecture, split the way memory and quantisation treat them."""

    embedding: int
    lm_head: int
    attention: int       # attention projections (MLA included)
    mlp: int             # dense MLP projections
    experts: int         # routed and shared expert projections
    other: int           # norms, router gates: kept in bf16
    kv_proj: int         # part of `attention`: K and V projections (replicated once tp > kv_heads)
    replicated: int      # part of `attention`: layers every TP rank holds whole (MLA down-projections)
    extra: int = 0       # loaded besides the language model (a vision tower), in bf16

    @property
    def linear(self) -> int:
        """Every projection (what a quantised format stores in fewer bytes)."""
        return self.attention + self.mlp + self.experts

    @property
    def total(self) -> int:
        return self.embedding + self.lm_head + self.linear + self.other + self.extra


def param_counts(arch: Architecture) -> ParamCounts:
    """Parameter counts computed from the shape (dense, MoE, tied embeddings, MLA)."""
    h, layers = arch.hidden_size, arch.num_layers
    embedding = arch.vocab_size * h
    lm_head = 0 if arch.tie_word_embeddings else arch.vocab_size * h
    norms_per_layer = arch.norms_per_layer * h
    replicated = 0
    if arch.mla is not None:
        m, heads = arch.mla, arch.num_attention_heads
        qk_head = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank * heads * qk_head
            norms_per_layer += m.q_lora_rank
            replicated += h * m.q_lora_rank
        else:
            q = h * heads * qk_head
        kv_a = h * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv_b = m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim)
        norms_per_layer += m.kv_lora_rank
        replicated += kv_a
        attn = q + kv_a + kv_b + heads * m.v_head_dim * h
        kv_proj = 0
    else:
        q_out = arch.num_attention_heads * arch.head_dim
        kv_out = arch.num_kv_heads * arch.head_dim
        kv_proj = 2 * h * kv_out
        attn = h * q_out + kv_proj + q_out * h
        if arch.qk_norm:
            norms_per_layer += 2 * arch.head_dim
    other = norms_per_layer * layers + h  # + the final norm
    mlp = experts = 0
    if arch.moe is not None:
        moe = arch.moe
        dense_layers = moe.dense_layers
        moe_layers = layers - dense_layers
        dense_inter = moe.dense_intermediate_size or arch.intermediate_size
        mlp = dense_layers * 3 * h * dense_inter
        experts = moe_layers * (moe.num_experts + moe.shared_experts) * 3 * h * moe.expert_intermediate_size
        other += moe_layers * (h * moe.num_experts + (moe.num_experts if moe.router_bias else 0))
    else:
        mlp = layers * 3 * h * arch.intermediate_size
    counts = ParamCounts(embedding, lm_head, attn * layers, mlp, experts, other,
                         kv_proj * layers, replicated * layers, arch.extra_params)
    if arch.params_override and arch.params_override != counts.total:
        # An inline architecture stated its parameter count: trust it, scale the MLP part.
        delta = arch.params_override - counts.total
        counts = ParamCounts(embedding, lm_head, attn * layers, max(0, mlp + delta), experts,
                             other, kv_proj * layers, replicated * layers, arch.extra_params)
    return counts


def weight_format(precision: str) -> WeightFormat:
    """The weight format named by a model's `precision` (unknown names: bf16)."""
    formats = weight_formats()
    return formats.get(precision, formats["bf16"])


def _round_up(value: float, multiple: int) -> float:
    return math.ceil(value / multiple) * multiple if multiple else value


def weight_bytes_per_gpu(arch: Architecture, precision: str, tp: int) -> float:
    """Weights held by one TP rank, in the checkpoint's format: projections the format
    quantises at its bytes per parameter (expert MLPs padded the way the engine pads them),
    everything else in bf16; everything split by tp except replicated projections."""
    p = param_counts(arch)
    fmt = weight_format(precision)
    attn_bytes = fmt.bytes if fmt.quantizes == "linear" else 2.0
    mlp_bytes = fmt.bytes if fmt.quantizes in ("linear", "mlp") else 2.0
    per_gpu = 2.0 * (p.embedding + p.lm_head + p.other + p.extra) / tp
    per_gpu += attn_bytes * p.attention / tp + mlp_bytes * p.mlp / tp
    if p.experts and arch.moe is not None:
        moe = arch.moe
        experts_per_layer = (moe.num_experts + moe.shared_experts) * 3 * arch.hidden_size
        inter = _round_up(moe.expert_intermediate_size / tp, fmt.expert_pad)
        moe_layers = arch.num_layers - moe.dense_layers
        per_gpu += mlp_bytes * moe_layers * experts_per_layer * inter
    if p.kv_proj and tp > arch.num_kv_heads:
        # Each rank keeps one whole KV head's projection instead of 1/tp of all of them.
        per_gpu += p.kv_proj * attn_bytes * (1 / arch.num_kv_heads - 1 / tp)
    per_gpu += p.replicated * attn_bytes * (1 - 1 / tp)
    if fmt.bf16_edge_layers and arch.num_layers > 2:
        # The first and last layers' quantised projections stay in bf16.
        edge = 2 / arch.num_layers
        per_gpu += (2.0 - attn_bytes) * p.attention * edge / tp
        per_gpu += (2.0 - mlp_bytes) * (p.mlp + p.experts) * edge / tp
    return per_gpu


def weight_bytes(arch: Architecture, precision: str = "bf16") -> float:
    """Bytes of the whole checkpoint as loaded (tp 1)."""
    return weight_bytes_per_gpu(arch, precision, 1)


# -- KV cache -----------------------------------------------------------------------------------

KV_DTYPE_BYTES = {"auto": 2, "bf16": 2, "fp16": 2, "fp8": 1}


@dataclass(frozen=True)
class KvPerToken:
    """KV bytes per cached token on one GPU: full-attention layers and sliding-window layers."""

    full: float
    local: float


def kv_bytes_per_token(arch: Architecture, tp: int = 1, kv_dtype: str = "auto") -> KvPerToken:
    """Per-GPU KV bytes per token (whole model at tp=1).

    Standard attention: 2 (K and V) * layers * kv_heads * head_dim * bytes, split over
    min(tp, kv_heads) because vLLM replicates KV heads beyond that. MLA: one latent of
    kv_lora_rank + rope_dim per layer, held whole by every rank; in fp8 the engines store the
    latent in fp8 with one fp32 scale per 128 values and the rope part in bf16 (vLLM's
    fp8_ds_mla: 656 bytes per layer for DeepSeek-V3). `kv_dtype` auto is the model dtype
    (bf16), whatever the weight format.
    """
    dtype_bytes = KV_DTYPE_BYTES.get(kv_dtype, 2)
    if arch.mla is not None:
        m = arch.mla
        if dtype_bytes == 1:
            latent = m.kv_lora_rank + 4 * math.ceil(m.kv_lora_rank / 128) + 2 * m.qk_rope_head_dim
        else:
            latent = (m.kv_lora_rank + m.qk_rope_head_dim) * dtype_bytes
        return KvPerToken(full=float(arch.num_layers * latent), local=0.0)
    per_layer = 2 * arch.num_kv_heads * arch.head_dim * dtype_bytes / min(tp, arch.num_kv_heads)
    local_layers = arch.sliding_window.local_layers if arch.sliding_window else 0
    return KvPerToken(full=arch.global_layers * per_layer, local=local_layers * per_layer)


def sliding_window_tokens(
    arch: Architecture,
    max_seq_len: int,
    concurrent_sequences: int = DEFAULT_CONCURRENT_SEQUENCES,
    max_batched_tokens: int = DEFAULT_PREFILL_CHUNK_TOKENS,
) -> int | None:
    """Tokens a sliding-window layer keeps at most: per active sequence the window plus one
    block (capped at the sequence length), plus one prefill chunk (max_batched_tokens) in
    flight. None: no window."""
    if arch.sliding_window is None:
        return None
    per_sequence = min(arch.sliding_window.window + BLOCK_SIZE, max_seq_len)
    return concurrent_sequences * per_sequence + max_batched_tokens


# -- LoRA ---------------------------------------------------------------------------------------


def lora_slot_bytes(arch: Architecture, rank: int, tp: int = 1, dtype_bytes: int = 2) -> float:
    """Per-GPU bytes of one preallocated LoRA slot of `rank` over all 7 projections.

    r * L * [7·h + (2·q_out + 2·kv_out + 3·I)/tp] * bytes: column-parallel layers keep A whole
    and split B, row-parallel layers split A and keep B whole (memory.md §3). For MoE models the
    config's dense intermediate size stands in for the expert MLPs (an approximation).
    """
    h = arch.hidden_size
    q_out = arch.num_attention_heads * arch.head_dim
    kv_out = arch.num_kv_heads * arch.head_dim
    inter = arch.intermediate_size
    per_layer = 7 * h + (2 * q_out + 2 * kv_out + 3 * inter) / tp
    return rank * arch.num_layers * per_layer * dtype_bytes


# -- the breakdown --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Per-GPU memory of one deployment on one GPU type, in bytes."""

    gpu: str
    cuda_total: int
    utilization: float
    tp: int
    kv_cache_len: int
    weights: float
    kv: float
    draft_weights: float
    draft_kv: float
    adapters: float
    non_torch: float
    activation: float
    cudagraph: float
    max_kv_cache_len: int
    tight_margin: float              # bytes: the model's measured error
    tight_fraction: float | None = None   # deprecated fixed band, when configured
    overhead_fixed: bool = False     # a legacy overhead_gib_* setting replaced the model
    max_batched_tokens: int = 0
    max_num_seqs: int = 0

    @property
    def overhead(self) -> float:
        return self.non_torch + self.activation + self.cudagraph

    @property
    def usable(self) -> float:
        return self.cuda_total * self.utilization

    @property
    def draft(self) -> float:
        return self.draft_weights + self.draft_kv

    @property
    def total(self) -> float:
        return self.weights + self.kv + self.draft + self.adapters + self.overhead

    @property
    def headroom(self) -> float:
        return self.usable - self.total

    @property
    def verdict(self) -> str:
        if self.total > self.usable:
            return DOES_NOT_FIT
        if self.tight_fraction is not None:
            return TIGHT if self.total > self.tight_fraction * self.usable else FITS
        if self.headroom < self.tight_margin:
            return TIGHT
        return FITS


def _max_tokens(budget: float, terms: list[tuple[float, int | None]]) -> int:
    """Largest T with Σ rate * min(T, cap) ≤ budget (cap None: uncapped), floored to a block.

    The need is piecewise linear in T, so walk the breakpoints and solve the last segment.
    """
    if budget <= 0:
        return 0
    caps = sorted({c for _, c in terms if c is not None})
    start, used = 0, 0.0
    for end in [*caps, None]:
        slope = sum(rate for rate, cap in terms if cap is None or cap > start)
        if slope <= 0:
            return 1 << 62 if end is None else end  # nothing grows: any length fits
        seg_end = math.inf if end is None else end
        if used + slope * (seg_end - start) > budget:
            tokens = start + (budget - used) / slope
            return int(tokens) // BLOCK_SIZE * BLOCK_SIZE
        used += slope * (seg_end - start)
        start = int(seg_end)
    return start  # pragma: no cover - the last segment is unbounded


def estimate(
    arch: Architecture,
    gpu: Gpu,
    *,
    tp: int,
    kv_cache_len: int,
    precision: str | None = None,
    kv_cache_dtype: str = "auto",
    max_seq_len: int | None = None,
    draft: Architecture | None = None,
    adapters: int = 0,
    adapter_rank: int = DEFAULT_LORA_RANK,
    rules: MemoryRules | None = None,
    settings: Settings | None = None,
    concurrent_sequences: int = DEFAULT_CONCURRENT_SEQUENCES,
) -> Breakdown:
    """Per-GPU need of `arch` at `tp` with `kv_cache_len` tokens of KV cache on `gpu`.

    The draft shards with the target's tp (its KV in the same dtype); `adapters` LoRA slots
    of `adapter_rank` are preallocated. Utilisation, engine settings and the overhead terms
    come from `settings` (resolved pool → rules.memory → calibrated defaults), else from
    `rules` (config `rules.memory`) and the calibrated defaults for the GPU's class.
    """
    if settings is None:
        settings = resolve(gpu, rules)
    precision = precision or arch.precision
    seq = max_seq_len or arch.max_position_embeddings or kv_cache_len
    weights = weight_bytes_per_gpu(arch, precision, tp)
    kv_rate = kv_bytes_per_token(arch, tp, kv_cache_dtype)
    chunk = settings.max_batched_tokens
    terms: list[tuple[float, int | None]] = [(kv_rate.full, None)]
    if kv_rate.local:
        terms.append((kv_rate.local, sliding_window_tokens(arch, seq, concurrent_sequences, chunk)))
    draft_terms: list[tuple[float, int | None]] = []
    draft_weights = 0.0
    if draft is not None:
        draft_weights = weight_bytes_per_gpu(draft, draft.precision, tp)
        d_rate = kv_bytes_per_token(draft, tp, kv_cache_dtype)
        draft_terms.append((d_rate.full, None))
        if d_rate.local:
            draft_terms.append(
                (d_rate.local, sliding_window_tokens(draft, seq, concurrent_sequences, chunk)))
    adapter_bytes = adapters * lora_slot_bytes(arch, adapter_rank, tp)
    over = estimate_overhead(arch, gpu, tp, settings)

    def charge(ts: list[tuple[float, int | None]]) -> float:
        return sum(rate * min(kv_cache_len, cap if cap is not None else kv_cache_len) for rate, cap in ts)

    gpu_usable = gpu.cuda_total_bytes * settings.utilization
    fixed = weights + draft_weights + adapter_bytes + over.total
    return Breakdown(
        gpu=gpu.name,
        cuda_total=gpu.cuda_total_bytes,
        utilization=settings.utilization,
        tp=tp,
        kv_cache_len=kv_cache_len,
        weights=weights,
        kv=charge(terms),
        draft_weights=draft_weights,
        draft_kv=charge(draft_terms),
        adapters=adapter_bytes,
        non_torch=over.non_torch,
        activation=over.activation,
        cudagraph=over.cudagraph,
        max_kv_cache_len=_max_tokens(gpu_usable - fixed, terms + draft_terms),
        tight_margin=calibration().tight_margin_gib * GIB,
        tight_fraction=settings.tight_fraction,
        overhead_fixed=over.fixed,
        max_batched_tokens=settings.max_batched_tokens,
        max_num_seqs=settings.max_num_seqs,
    )


# -- the report over a workspace ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FitRow:
    """One deployment on one pool: its breakdown, or why the fit was not checked."""

    deployment: str
    model: str
    pool: str
    gpu: str | None
    tp: int
    kv_cache_len: int
    breakdown: Breakdown | None
    path: YamlPath
    reason: str | None = None      # why unchecked
    draft: str | None = None
    adapters: int = 0

    @property
    def verdict(self) -> str:
        return self.breakdown.verdict if self.breakdown else UNCHECKED

    def to_dict(self) -> dict[str, Any]:
        """JSON form (DESIGN.md): sizes in GiB rounded to 0.01; None when unchecked."""
        b = self.breakdown

        def gib(value: float | None) -> float | None:
            return None if value is None else round(value / GIB, 2)

        return {
            "deployment": self.deployment,
            "model": self.model,
            "pool": self.pool,
            "gpu": self.gpu,
            "tp": self.tp,
            "kv_cache_len": self.kv_cache_len,
            "weights_gib": gib(b.weights if b else None),
            "kv_gib": gib(b.kv if b else None),
            "draft_gib": gib(b.draft if b else None),
            "adapters_gib": gib(b.adapters if b else None),
            "overhead_gib": gib(b.overhead if b else None),
            "non_torch_gib": gib(b.non_torch if b else None),
            "activation_gib": gib(b.activation if b else None),
            "cudagraph_gib": gib(b.cudagraph if b else None),
            "total_gib": gib(b.total if b else None),
            "usable_gib": gib(b.usable if b else None),
            "headroom_gib": gib(b.headroom if b else None),
            "verdict": self.verdict,
            "max_kv_cache_len": b.max_kv_cache_len if b else None,
            "draft": self.draft,
            "adapters": self.adapters,
            "reason": self.reason,
        }


def _adapters_on(ctx: RuleContext, base: str, pool: str) -> tuple[int, int]:
    """(distinct adapters of `base` deployed on `pool`, largest rank among them)."""
    index = _adapter_index(ctx)
    ranks = {**index.get((base, None), {}), **index.get((base, pool), {})}
    return len(ranks), max(ranks.values(), default=DEFAULT_LORA_RANK)


def _adapter_index(ctx: RuleContext) -> dict[tuple[str, str | None], dict[str, int]]:
    """(base, pool) → {adapter: rank} over every deployment, built once per context. Pool
    None holds adapters without a placement of their own: they ride on every pool of their
    base."""
    if ctx.adapter_index is not None:
        return ctx.adapter_index
    index: dict[tuple[str, str | None], dict[str, int]] = {}
    for dep in ctx.all_deployments():
        info = ctx.model(dep.model)
        if info is None or info.adapter_of is None:
            continue
        rank = info.rank or DEFAULT_LORA_RANK
        for pool in dep.pools if dep.pools is not None else (None,):
            index.setdefault((info.adapter_of, pool), {})[dep.model] = rank
    ctx.adapter_index = index
    return index


@functools.lru_cache(maxsize=8192)
def _estimate_once(
    arch: Architecture, gpu: Gpu, tp: int, kv_cache_len: int, precision: str | None,
    kv_cache_dtype: str, max_seq_len: int | None, draft: Architecture | None, adapters: int,
    adapter_rank: int, settings: Settings, concurrent_sequences: int,
) -> Breakdown:
    """`estimate`, once per distinct input: a model deployed in many projects on one pool has
    the same breakdown in each, and validate, plan and the plan's memory table ask for the
    fit rows of the same deployments (all inputs are frozen; a Breakdown is immutable)."""
    return estimate(arch, gpu, tp=tp, kv_cache_len=kv_cache_len, precision=precision,
                    kv_cache_dtype=kv_cache_dtype, max_seq_len=max_seq_len, draft=draft,
                    adapters=adapters, adapter_rank=adapter_rank, settings=settings,
                    concurrent_sequences=concurrent_sequences)


def deployment_rows(
    ctx: RuleContext,
    dep: DeploymentRef,
    *,
    gpu_override: Gpu | None = None,
    tp_override: int | None = None,
) -> list[FitRow]:
    """Fit rows of one deployment: one per pool of its placement (none for adapters, whose
    slots are charged to their base model's rows). Computed once per context (the memory
    rule and the plan's memory table ask for the same rows)."""
    if gpu_override is None and tp_override is None and dep.managed:
        rows = ctx.fit_rows.get(dep.address)
        if rows is None:
            rows = ctx.fit_rows[dep.address] = _deployment_rows(ctx, dep, None, None)
        return list(rows)
    return _deployment_rows(ctx, dep, gpu_override, tp_override)


def _deployment_rows(
    ctx: RuleContext, dep: DeploymentRef, gpu_override: Gpu | None, tp_override: int | None
) -> list[FitRow]:
    info = ctx.model(dep.model)
    if info is None or info.is_adapter:
        return []
    tp = tp_override or info.tp
    pools: tuple[str, ...] = dep.pools or (("(what-if)",) if gpu_override else ("(no placement)",))
    rows: list[FitRow] = []
    for pool_key in pools:
        pool = ctx.pool(pool_key)
        gpu = gpu_override or (pool.gpu if pool else None)
        n_adapters, rank = _adapters_on(ctx, dep.model, pool_key)
        common: dict[str, Any] = {
            "deployment": dep.address,
            "model": dep.model,
            "pool": pool_key,
            "tp": tp,
            "kv_cache_len": info.kv_cache_len,
            "path": dep.path,
            "draft": info.draft.name if info.draft else info.draft_name,
            "adapters": n_adapters,
        }
        reason = None
        if info.architecture is None:
            reason = info.architecture_error or f"unknown architecture {info.architecture_name!r}"
        elif info.draft_name and info.draft is None:
            reason = f"unknown draft architecture {info.draft_name!r}"
        elif gpu is None:
            if dep.pools is None:
                reason = "no placement: the pool (and its GPU) is unknown"
            elif pool is None:
                reason = f"unknown compute pool {pool_key!r}"
            else:
                reason = f"unknown GPU {pool.gpu_label!r}"
        if reason is not None or info.architecture is None or gpu is None:
            label = gpu.name if gpu else (pool.gpu_label if pool else None)
            rows.append(FitRow(gpu=label, breakdown=None, reason=reason, **common))
            continue
        breakdown = _estimate_once(
            info.architecture, gpu, tp, info.kv_cache_len, info.precision,
            info.kv_cache_dtype, info.max_seq_len, info.draft, n_adapters, rank,
            ctx.memory_settings(gpu, pool_key), ctx.concurrent_sequences,
        )
        rows.append(FitRow(gpu=gpu.name, breakdown=breakdown, **common))
    return rows


def fit_report(
    workspace: Workspace,
    live: LiveState | None = None,
    *,
    gpu: str | None = None,
    tp: int | None = None,
    context: RuleContext | None = None,
) -> list[FitRow]:
    """Fit rows for every deployment on every pool of its placement.

    `gpu` (a GPU name or live string) and `tp` are what-if overrides applied to every row.
    With live data, pools the config does not describe come from live (GPU string, world
    size, groups). Raises ValueError for an unknown `gpu` override. `context`, one the rules
    ran with for this workspace and live data, lends the rows it computed.
    """
    from adaptive_deploy.rules.catalog import find_gpu

    gpu_override = None
    if gpu is not None:
        gpu_override = find_gpu(gpu)
        if gpu_override is None:
            raise ValueError(f"unknown GPU {gpu!r}")
    ctx = context if context is not None else RuleContext(workspace, live=live)
    rows: list[FitRow] = []
    for dep in ctx.deployments:
        rows.extend(deployment_rows(ctx, dep, gpu_override=gpu_override, tp_override=tp))
    return rows
