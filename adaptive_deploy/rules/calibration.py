"""Check the memory model against the public dataset of engine measurements.

The dataset (`tests/data/engine-memory.tsv` in the source tree) holds figures copied from
inference-engine logs, issues and benchmark reports, one row per measurement, with its source.
`evaluate` predicts every row with the tool's own model, configured with the engine settings
the row states (utilisation, max batched tokens, max sequences, eager mode) and the budgeting
rules of the row's engine generation (`engine_profiles` in rules/data/overhead.yaml); what is
not stated takes the tool's defaults. Four checks come out of it:

- weights: the predicted weights per GPU against the engine's "Model loading took";
- KV bytes per token: the published KV pool divided by its token count;
- the KV pool: the largest kv_cache_len the tool reports against the pool the engine
  reserved (bytes for models with sliding-window layers, whose token counts vLLM reports as
  a concurrency figure);
- failures: a row where the engine failed for lack of memory must be `does-not-fit` there.

A row's `skip` column names the checks that do not apply to it and why. Used by the tests
(tests/rules/test_calibration.py) and by scripts/memory_calibration.py, which writes the
predicted-vs-published table (docs/memory-calibration.md).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from adaptive_deploy.rules import catalog, memory
from adaptive_deploy.rules.overhead import GIB, Settings, calibration, resolve

CHECKS = ("weights", "bpt", "pool", "failure")


@dataclass(frozen=True)
class Row:
    """One dataset row, cells parsed (None: not stated)."""

    id: str
    source: str
    engine: str
    engine_version: str
    model: str
    checkpoint: str
    weight_format: str
    kv_dtype: str
    gpu: str | None
    tp: int
    utilization: float | None
    max_model_len: int | None
    max_batched_tokens: int | None
    max_num_seqs: int | None
    eager: bool
    lora_slots: tuple[int, int] | None   # (max_loras, max_lora_rank) when LoRA is enabled
    weights_gib: float | None
    kv_gib: float | None
    kv_tokens: int | None
    non_torch_gib: float | None
    activation_gib: float | None
    cudagraph_gib: float | None
    outcome: str
    failed_at_tokens: int | None
    skip: dict[str, str]
    quote: str


def _float(cell: str) -> float | None:
    m = re.match(r"\s*(-?[0-9.]+)", cell)
    return float(m.group(1)) if m else None


def _int(cell: str) -> int | None:
    value = _float(cell.replace(",", ""))
    return int(value) if value is not None else None


def _lora(cell: str) -> tuple[int, int] | None:
    m = re.match(r"\s*(\d+)x(\d+)", cell)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _skips(cell: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        check, _, reason = part.partition(":")
        out[check.strip()] = reason.strip()
    return out


def load(path: Path) -> list[Row]:
    """Parse the dataset TSV (lines starting with # are comments)."""
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln and not ln.startswith("#")]
    rows = []
    for cells in csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE):
        rows.append(Row(
            id=cells["id"], source=cells["source"], engine=cells["engine"],
            engine_version=cells["engine_version"], model=cells["model"],
            checkpoint=cells["checkpoint"], weight_format=cells["weight_format"] or "bf16",
            kv_dtype=cells["kv_dtype"] or "auto", gpu=cells["gpu"] or None,
            tp=_int(cells["tp"]) or 1, utilization=_float(cells["utilization"]),
            max_model_len=_int(cells["max_model_len"]),
            max_batched_tokens=_int(cells["max_batched_tokens"]),
            max_num_seqs=_int(cells["max_num_seqs"]), eager=cells["cuda_graphs"] == "eager",
            lora_slots=_lora(cells["lora_slots"]),
            weights_gib=_float(cells["weights_gib"]), kv_gib=_float(cells["kv_gib"]),
            kv_tokens=_int(cells["kv_tokens"]), non_torch_gib=_float(cells["non_torch_gib"]),
            activation_gib=_float(cells["activation_gib"]),
            cudagraph_gib=_float(cells["cudagraph_gib"]), outcome=cells["outcome"],
            failed_at_tokens=_int(cells["failed_at_tokens"]), skip=_skips(cells["skip"]),
            quote=cells["quote"],
        ))
    return rows


def profile_of(row: Row) -> str:
    """The engine generation whose budgeting rules apply (overhead.yaml engine_profiles)."""
    m = re.match(r"\s*(\d+)\.(\d+)", row.engine_version)
    if row.engine != "vllm" or m is None:
        return "default"
    version = (int(m.group(1)), int(m.group(2)))
    if version < (0, 8):
        return "vllm-v0"
    if version < (0, 11):
        return "vllm-0.8"
    if version < (0, 21):
        return "vllm-0.11"
    return "default"


def row_settings(row: Row, gpu: catalog.Gpu) -> Settings:
    """The tool's settings for a row: what the row states, the rest the tool's defaults."""
    profile = profile_of(row)
    batched = row.max_batched_tokens
    if batched is None and calibration().profiles[profile].get("v0_batched_tokens") and row.max_model_len:
        batched = max(row.max_model_len, 2048) if row.max_model_len <= 32768 else 2048
    return resolve(
        gpu,
        utilization=row.utilization,
        max_batched_tokens=batched,
        max_num_seqs=row.max_num_seqs,
        cudagraph_gib=0.0 if row.eager else None,
        profile=profile,
    )


@dataclass
class Prediction:
    """The tool's figures for one row and the outcome of each check that applies."""

    row: Row
    arch: catalog.Architecture
    weights_gib: float
    bpt: float                                   # KV bytes per token per GPU
    gpu: catalog.Gpu | None = None
    breakdown: memory.Breakdown | None = None
    published_bpt: float | None = None
    pool_published: float | None = None          # bytes, or tokens when `pool_in_tokens`
    pool_predicted: float | None = None
    pool_in_tokens: bool = False
    failure_verdict: str | None = None
    applies: dict[str, bool] = field(default_factory=dict)

    @property
    def weights_error(self) -> float | None:
        if self.row.weights_gib is None:
            return None
        return self.weights_gib / self.row.weights_gib - 1

    @property
    def bpt_error(self) -> float | None:
        return None if self.published_bpt is None else self.bpt / self.published_bpt - 1

    @property
    def pool_over(self) -> float | None:
        """predicted / published - 1 (positive: the tool promises more than the engine had)."""
        if self.pool_published is None or self.pool_predicted is None:
            return None
        return self.pool_predicted / self.pool_published - 1

    @property
    def overhead_published_gib(self) -> float | None:
        """What the engine used besides weights and KV: usable - weights - KV pool."""
        r, g = self.row, self.gpu
        if g is None or r.utilization is None or r.weights_gib is None or r.kv_gib is None:
            return None
        return g.cuda_total_bytes * r.utilization / GIB - r.weights_gib - r.kv_gib


def _predict(row: Row) -> Prediction:
    arch = catalog.find_architecture(row.model)
    if arch is None:
        raise ValueError(f"dataset row {row.id}: {row.model!r} is not in the catalog")
    weights = memory.weight_bytes_per_gpu(arch, row.weight_format, row.tp) / GIB
    if row.lora_slots:
        # vLLM allocates the LoRA slots inside load_model, so they are in its weights figure.
        loras, rank = row.lora_slots
        weights += loras * memory.lora_slot_bytes(arch, rank, row.tp) / GIB
    rate = memory.kv_bytes_per_token(arch, row.tp, row.kv_dtype)
    pred = Prediction(row=row, arch=arch, weights_gib=weights, bpt=rate.full + rate.local)
    skip = row.skip
    pred.applies["weights"] = row.weights_gib is not None and "weights" not in skip
    if row.kv_gib is not None and row.kv_tokens and arch.sliding_window is None and "bpt" not in skip:
        pred.published_bpt = row.kv_gib * GIB / row.kv_tokens
        pred.applies["bpt"] = True
    gpu = catalog.find_gpu(row.gpu) if row.gpu else None
    pred.gpu = gpu
    if gpu is None:
        return pred
    settings = row_settings(row, gpu)
    tokens = row.failed_at_tokens or row.max_model_len or 16
    b = memory.estimate(arch, gpu, tp=row.tp, kv_cache_len=tokens, precision=row.weight_format,
                        kv_cache_dtype=row.kv_dtype, max_seq_len=row.max_model_len,
                        settings=settings)
    pred.breakdown = b
    if row.outcome == "failed" and row.failed_at_tokens and "failure" not in skip:
        pred.failure_verdict = b.verdict
        pred.applies["failure"] = True
    has_pool = row.kv_gib is not None or row.kv_tokens is not None
    if (row.engine == "vllm" and row.utilization is not None and has_pool
            and (row.kv_gib is None or row.kv_gib > 0) and "pool" not in skip):
        budget = b.usable - (b.weights + b.overhead)
        if row.kv_gib is None and arch.sliding_window is None:
            # Only a token count: compare the largest kv_cache_len the tool reports.
            pred.pool_in_tokens = True
            pred.pool_published = float(row.kv_tokens or 0)
            pred.pool_predicted = float(b.max_kv_cache_len)
        else:
            # The engine's own per-GPU figure; for full-attention models the same comparison
            # as kv_cache_len (max_kv_cache_len * bytes per token is this budget, to a block).
            pred.pool_published = (row.kv_gib or 0.0) * GIB
            pred.pool_predicted = budget
        pred.applies["pool"] = True
    return pred


def evaluate(rows: Iterable[Row]) -> list[Prediction]:
    """Predict every row (raises ValueError for a model the catalog lacks)."""
    return [_predict(r) for r in rows]


@dataclass(frozen=True)
class Summary:
    rows: int
    models: int
    gpus: int
    weights_max_error: float
    bpt_max_error: float
    pool_rows: int
    pool_max_over: float
    pool_median_gap: float
    failures: int
    failures_refused: int


def summarize(preds: list[Prediction]) -> Summary:
    weights = [abs(e) for p in preds if p.applies.get("weights") and (e := p.weights_error) is not None]
    bpts = [abs(e) for p in preds if p.applies.get("bpt") and (e := p.bpt_error) is not None]
    overs = [o for p in preds if p.applies.get("pool") and (o := p.pool_over) is not None]
    failures = [p for p in preds if p.applies.get("failure")]
    return Summary(
        rows=len(preds),
        models=len({p.arch.name for p in preds}),
        gpus=len({p.gpu.name for p in preds if p.gpu is not None}),
        weights_max_error=max(weights, default=0.0),
        bpt_max_error=max(bpts, default=0.0),
        pool_rows=len(overs),
        pool_max_over=max(overs, default=0.0),
        pool_median_gap=statistics.median([-o for o in overs]) if overs else 0.0,
        failures=len(failures),
        failures_refused=sum(1 for p in failures if p.failure_verdict == memory.DOES_NOT_FIT),
    )


# -- fitting ---------------------------------------------------------------------------------------

POOL_BOUND = 0.02   # the tool may promise at most 2 % more KV than the engine reserved


@dataclass(frozen=True)
class Fit:
    """Coefficients as the dataset determines them, to compare with overhead.yaml."""

    sampler_factor: float        # largest published activation / (max_num_seqs * vocab * 4 B)
    token_factor: float          # largest forward-pass activation / (tokens * token_bytes)
    non_torch_tp1: float         # smallest values keeping every pool row within POOL_BOUND
    non_torch_tp_multi: float
    moe_token_factor: float
    tight_margin_gib: float      # 90th percentile of |predicted - published| KV pool, GiB
    cudagraph_gib: float         # 75th percentile of the published CUDA-graph captures
    pool_errors_gib: list[float]


def _needed_extra(preds: list[Prediction], select: object) -> float:
    """GiB the overhead of the selected pool rows must grow by (negative: may shrink by) for
    the most over-promised of them to sit exactly at POOL_BOUND."""
    need = -math.inf
    for p in preds:
        if not p.applies.get("pool") or not select(p):  # type: ignore[operator]
            continue
        assert p.pool_published is not None and p.pool_predicted is not None
        if p.pool_in_tokens:
            excess_bytes = (p.pool_predicted - (1 + POOL_BOUND) * p.pool_published) * p.bpt
        else:
            excess_bytes = p.pool_predicted - (1 + POOL_BOUND) * p.pool_published
        need = max(need, excess_bytes / GIB)
    return need if need > -math.inf else 0.0


def fit(preds: list[Prediction]) -> Fit:
    """Derive each coefficient from the rows that measure it (see docs/memory-calibration.md).

    The activation factors are upper envelopes of the published activation peaks; the
    non-torch terms are the smallest values (at 0.05 GiB steps) for which no pool row is
    over-promised by more than POOL_BOUND with the other terms as committed."""
    from adaptive_deploy.rules.overhead import token_bytes

    cal = calibration()
    sampler = 0.0
    forward_points: dict[tuple[str, str, int, str], list[tuple[float, float]]] = {}
    for p in preds:
        r = p.row
        act = r.activation_gib
        peak = re.search(r"peak_torch_memory=([0-9.]+)GiB", r.quote)
        if act is None and peak and r.weights_gib is not None:
            act = float(peak.group(1)) - r.weights_gib  # the profile's torch peak above weights
        if act is None or p.gpu is None or p.breakdown is None:
            continue
        b = p.breakdown
        profile = cal.profiles[row_settings(r, p.gpu).profile]
        if float(profile.get("sampler_factor", cal.sampler_factor)) == cal.sampler_factor:
            sampler = max(sampler, act / (b.max_num_seqs * p.arch.vocab_size * 4 / GIB))
        forward = b.max_batched_tokens * token_bytes(p.arch, r.tp) / GIB
        forward_points.setdefault((r.model, p.gpu.name, r.tp, r.engine_version), []).append((forward, act))
    # The forward pass's share: the slope of the activation peak over the batched tokens, from
    # rows of one model, GPU and engine that differ only in the tokens profiled.
    token = 0.0
    for points in forward_points.values():
        points.sort()
        for (f0, a0), (f1, a1) in itertools.pairwise(points):
            if f1 > f0:
                token = max(token, (a1 - a0) / (f1 - f0))
    extra1 = _needed_extra(preds, lambda p: p.row.tp == 1 and p.arch.moe is None)
    extra_multi = _needed_extra(preds, lambda p: p.row.tp > 1)
    extra_moe = _needed_extra(preds, lambda p: p.row.tp == 1 and p.arch.moe is not None)
    moe = 0.0
    for p in preds:
        if p.applies.get("pool") and p.arch.moe is not None and p.breakdown is not None:
            act = p.breakdown.activation / GIB
            moe = max(moe, cal.moe_token_factor * (act + extra_moe) / act)
    errors = sorted(
        abs(p.pool_predicted - p.pool_published) * (p.bpt if p.pool_in_tokens else 1) / GIB
        for p in preds
        if p.applies.get("pool") and p.pool_predicted is not None and p.pool_published is not None
    )
    p90 = errors[min(len(errors) - 1, math.ceil(0.9 * len(errors)) - 1)] if errors else 0.0

    def step(value: float) -> float:
        return round(math.ceil(value / 0.05 - 1e-9) * 0.05, 2)

    graphs = sorted(g for p in preds if (g := p.row.cudagraph_gib) is not None and g > 0)
    p75 = graphs[min(len(graphs) - 1, math.ceil(0.75 * len(graphs)) - 1)] if graphs else 0.0

    return Fit(
        sampler_factor=round(sampler, 2),
        token_factor=round(token, 2),
        non_torch_tp1=step(cal.non_torch_tp1 + extra1),
        non_torch_tp_multi=step(cal.non_torch_tp_multi + extra_multi),
        moe_token_factor=round(moe, 2),
        tight_margin_gib=round(p90, 2),
        cudagraph_gib=round(p75, 2),
        pool_errors_gib=[round(e, 2) for e in errors],
    )


# -- the published table ------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{100 * value:+.{digits}f} %"


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def render_markdown(preds: list[Prediction]) -> str:
    """docs/memory-calibration.md: the model, the fitted values, and every row's residuals."""
    cal = calibration()
    s = summarize(preds)
    f = fit(preds)
    out = [
        "# Memory model calibration",
        "",
        "Generated by `python scripts/memory_calibration.py` from `tests/data/engine-memory.tsv`;",
        "a test fails when this file is not current. Every published figure below is copied from",
        "the row's source (inference-engine issues and pull requests, committed engine logs,",
        "benchmark reports); the predictions are the tool's own (`adaptive_deploy/rules/`).",
        "",
        "## The model",
        "",
        "```",
        "usable     = cuda_total(gpu) * utilization",
        "need       = weights/GPU + draft + LoRA slots + kv_cache_len * KV bytes/token/GPU + overhead",
        "overhead   = non_torch(tp) + activation + cudagraph",
        "activation = max(token_factor [* moe_token_factor] * max_batched_tokens * 2 B",
        "                     * (hidden + 3 * intermediate per GPU),",
        "                 sampler_factor * max_num_seqs * vocab * 4 B)",
        "```",
        "",
        "- **non_torch**: NCCL and custom all-reduce buffers, cuBLAS and attention workspaces;",
        "  one value at tp 1, a larger one at tp ≥ 2 (vLLM's `non_torch_memory`).",
        "- **activation**: the engine sizes the KV cache after a profiling forward pass of",
        "  `max_batched_tokens` tokens and a sampler pass over `max_num_seqs` rows of float32",
        "  logits; the peak is the larger of the two (published peaks do not change with tp when",
        "  the sampler dominates: Qwen3-32B shows 5.64 GiB at tp 1 and tp 2). MoE models run",
        "  their experts' routing buffers too (`moe_token_factor`).",
        "- **cudagraph**: captured CUDA graphs; vLLM charges them in the budget since v0.21.",
        "- **Defaults by GPU class** follow vLLM's `EngineArgs.get_batch_defaults`: GPUs with at",
        "  least 70 GiB that are not an A100 run 8,192 batched tokens and 1,024 sequences,",
        "  others 2,048 and 256 (`rules.memory.max_batched_tokens` / `max_num_seqs` override).",
        "",
        "## Fitted values",
        "",
        "Each coefficient is fitted from the rows that measure it; `rules/data/overhead.yaml`",
        "commits the fit rounded up (to the next 0.05 GiB or 0.1 of a factor).",
        "",
        "| value | from the dataset | committed | how it is fitted |",
        "| --- | --- | --- | --- |",
        f"| sampler_factor | {f.sampler_factor} | {cal.sampler_factor} | largest published activation ÷ (max_num_seqs * vocab * 4 B), rows of engines with the large sampler pass |",
        f"| token_factor | {f.token_factor} | {cal.token_factor} | slope of the activation peak over the tokens profiled, rows of one model and engine that differ only in those tokens |",
        f"| moe_token_factor | {f.moe_token_factor} | {cal.moe_token_factor} | smallest value for which no MoE row at tp 1 is over-promised by more than 2 % |",
        f"| non_torch tp 1 (GiB) | {f.non_torch_tp1} | {cal.non_torch_tp1} | smallest value for which no dense tp-1 row is over-promised by more than 2 % |",
        f"| non_torch tp ≥ 2 (GiB) | {f.non_torch_tp_multi} | {cal.non_torch_tp_multi} | the same over the tp ≥ 2 rows |",
        f"| tight band (GiB) | {f.tight_margin_gib} | {cal.tight_margin_gib} | 90th percentile of the absolute error of the predicted KV pool |",
        "",
        f"The CUDA-graph default ({cal.classes['large']['cudagraph_gib']} GiB for either GPU class) is"
        " charged only by engines that budget for graphs (v0.21+), so no row here measures it",
        f"against a pool; it is the upper quartile ({f.cudagraph_gib} GiB) of the published",
        "\"Graph capturing finished ... took X GiB\" figures in the dataset (`cudagraph_gib`).",
        "",
        "Older engine generations budgeted differently; each row is predicted with the rules of",
        "its own engine version (`engine_profiles`): before v0.11 the sampler pass was small,",
        "before v0.21 CUDA graphs were not charged, and the V0 engine profiled",
        "max(max_model_len, 2048) tokens when chunked prefill was off. A row whose version is not",
        "stated is predicted as the newest engine (the tool's default).",
        "",
        "## Results",
        "",
        f"- {s.rows} rows, {s.models} catalogue models, {s.gpus} GPU types.",
        f"- Weights: largest error {100 * s.weights_max_error:.1f} % (bound 2 %).",
        f"- KV bytes per token: largest error {100 * s.bpt_max_error:.2f} % (bound 1 %).",
        f"- KV pool, {s.pool_rows} rows: the tool never promises more than the engine reserved by",
        f"  more than {100 * s.pool_max_over:.2f} % (bound 2 %); median gap {100 * s.pool_median_gap:.1f} %"
        " (bound 8 %).",
        f"- Failures: {s.failures_refused} of {s.failures} rows where the engine ran out of memory are",
        "  `does-not-fit` at the failing length.",
        "- Absolute error of the predicted KV pool (GiB, sorted): "
        + ", ".join(f"{e:.2f}" for e in f.pool_errors_gib) + ".",
        "",
        "## Rows",
        "",
        "Weights in GiB per GPU (published / predicted, error); KV bytes per token error; KV pool",
        "published and predicted (GiB per GPU, or tokens when only tokens are published) and how",
        "much more the tool promises (positive) or less (negative); the verdict at the failing",
        "length. Empty: not stated, or the check does not apply (reason in the last column).",
        "",
        "| row | model | GPU | tp | format | engine | weights | err | KV B/tok err | KV pool | tool | over | at failure | not checked | source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in preds:
        r = p.row
        weights = f"{_num(r.weights_gib)} / {_num(p.weights_gib)}" if r.weights_gib is not None else ""
        pool = tool = over = ""
        if p.applies.get("pool") and p.pool_published is not None and p.pool_predicted is not None:
            if p.pool_in_tokens:
                pool, tool = f"{p.pool_published:,.0f} tok", f"{p.pool_predicted:,.0f} tok"
            else:
                pool, tool = f"{p.pool_published / GIB:.2f}", f"{p.pool_predicted / GIB:.2f}"
            over = _pct(p.pool_over)
        gpu = r.gpu or ""
        skips = "; ".join(f"{k}: {v}" for k, v in r.skip.items()).replace("|", "/")
        engine = f"{r.engine} {r.engine_version}".strip().replace("|", "/")
        out.append(
            f"| {r.id} | {p.arch.name} | {gpu} | {r.tp} | {r.weight_format}"
            f"{', KV ' + r.kv_dtype if r.kv_dtype not in ('auto', 'bf16') else ''} | {engine} | "
            f"{weights} | {_pct(p.weights_error) if p.applies.get('weights') else ''} | "
            f"{_pct(p.bpt_error, 2) if p.applies.get('bpt') else ''} | {pool} | {tool} | {over} | "
            f"{p.failure_verdict or ''} | {skips} | [source]({r.source.split(' ')[0]}) |"
        )
    out.append("")
    return "\n".join(out)
