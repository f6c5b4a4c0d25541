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
        """predicted / published − 1 (positive: the tool promises more than the engine had)."""
        if self.pool_published is None or self.pool_predicted is None:
            return None
        return self.pool_predicted / self.pool_published - 1

    @property
    def overhead_published_gib(self) -> float | None:
        """What the engine used besides weights and KV: usable − weights − KV pool."""
        r, g = self.row, self.gpu
        if g is None or r.utilization is None or r.weights_gib is None or r.kv_gib is None:
            return None
        return g.cuda_total_bytes * r.utilization / GIB - r.weights_gib - r.kv_gib


def _predict(row: Row) -> Prediction:
    arch = catalog.find_architecture(row.model)
    if arch is None:
        raise ValueError(f"dataset row {row.id}: {row.model!r} is not in the catalog")
    weights = memory.weight_bytes_per_gpu(arch, row.weight_format, row.tp) / GIB
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
            # as kv_cache_len (max_kv_cache_len × bytes per token is this budget, to a block).
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
