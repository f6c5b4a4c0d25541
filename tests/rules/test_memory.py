"""The GPU-memory model against reference/memory.md (table values and worked examples)."""

from __future__ import annotations

import pytest

from adaptive_deploy.config.models import MemoryRules
from adaptive_deploy.rules import catalog, memory

GIB = 1 << 30

# memory.md §5: params (billions), bf16 weights (GiB), KV bytes/token (whole model, bf16).
TABLE = {
    "qwen3-0.6b": (0.596, 1.11, 114_688),
    "qwen3-1.7b": (1.721, 3.20, 114_688),
    "qwen3-4b": (4.022, 7.49, 147_456),
    "qwen3-8b": (8.191, 15.26, 147_456),
    "qwen3-14b": (14.768, 27.51, 163_840),
    "qwen3-32b": (32.762, 61.02, 262_144),
    "qwen3-30b-a3b": (30.53, 56.87, 98_304),
    "llama-3.2-1b": (1.236, 2.30, 32_768),
    "llama-3.2-3b": (3.213, 5.98, 114_688),
    "llama-3.1-8b": (8.030, 14.96, 131_072),
    "llama-3.1-70b": (70.55, 131.42, 327_680),
    "llama-3.1-405b": (405.85, 755.96, 516_096),
    "mistral-7b-v0.3": (7.248, 13.50, 131_072),
    "gemma-3-27b": (27.01, 50.3, 507_904),
    "deepseek-v3": (671.0, None, 70_272),
}


def arch(name: str) -> catalog.Architecture:
    a = catalog.find_architecture(name)
    assert a is not None
    return a


def gpu(name: str) -> catalog.Gpu:
    g = catalog.find_gpu(name)
    assert g is not None
    return g


@pytest.mark.parametrize("name", sorted(TABLE))
def test_table_figures(name: str) -> None:
    params_b, weights_gib, kv_bpt = TABLE[name]
    a = arch(name)
    assert memory.param_counts(a).total / 1e9 == pytest.approx(params_b, abs=0.0015 * params_b)
    if weights_gib is not None:
        assert memory.weight_bytes(a, "bf16") / GIB == pytest.approx(weights_gib, abs=0.01)
    kv = memory.kv_bytes_per_token(a, tp=1)
    assert kv.full + kv.local == kv_bpt


def test_exact_param_count_qwen3_0_6b() -> None:
    # memory.md: "Qwen3-0.6B's 596,049,920 matches a code comment exactly".
    assert memory.param_counts(arch("qwen3-0.6b")).total == 596_049_920


def test_gemma_global_and_local_kv() -> None:
    kv = memory.kv_bytes_per_token(arch("gemma-3-27b"))
    assert (kv.full, kv.local) == (81_920, 425_984)


def test_fp8_keeps_embeddings_in_bf16() -> None:
    assert memory.weight_bytes(arch("qwen3-8b"), "fp8") / GIB == pytest.approx(8.79, abs=0.01)
    # not params * 1
    assert memory.weight_bytes(arch("qwen3-8b"), "fp8") > memory.param_counts(arch("qwen3-8b")).total


def test_kv_sharding_stops_at_kv_heads() -> None:
    moe = arch("qwen3-30b-a3b")  # 4 KV heads
    assert memory.kv_bytes_per_token(moe, tp=8).full == memory.kv_bytes_per_token(moe, tp=4).full == 24_576


def test_mla_kv_is_not_sharded() -> None:
    ds = arch("deepseek-v3")
    assert memory.kv_bytes_per_token(ds, tp=8).full == memory.kv_bytes_per_token(ds, tp=1).full == 70_272


def test_kv_projection_replicated_beyond_kv_heads() -> None:
    a = arch("qwen3-30b-a3b")
    naive = memory.weight_bytes(a) / 8
    assert memory.weight_bytes_per_gpu(a, "bf16", 8) > naive
    assert memory.weight_bytes_per_gpu(a, "bf16", 4) == pytest.approx(memory.weight_bytes(a) / 4)


# memory.md §3, MiB per slot per GPU (bf16).
LORA = [
    ("llama-3.1-8b", 16, 1, 80.0), ("llama-3.1-8b", 16, 2, 54.0), ("llama-3.1-8b", 16, 4, 41.0),
    ("llama-3.1-8b", 16, 8, 34.5), ("llama-3.1-8b", 64, 1, 320), ("llama-3.1-8b", 64, 2, 216),
    ("llama-3.1-8b", 64, 4, 164), ("llama-3.1-8b", 64, 8, 138),
    ("qwen3-8b", 16, 1, 83.2), ("qwen3-8b", 64, 1, 333), ("qwen3-8b", 16, 2, 57.4),
    ("qwen3-8b", 64, 2, 229.5), ("qwen3-8b", 16, 4, 44.4), ("qwen3-8b", 64, 4, 178),
    ("qwen3-8b", 16, 8, 38), ("qwen3-8b", 64, 8, 152),
    ("llama-3.1-70b", 16, 1, 395), ("llama-3.1-70b", 64, 1, 1580), ("llama-3.1-70b", 16, 2, 268),
    ("llama-3.1-70b", 64, 2, 1070), ("llama-3.1-70b", 16, 4, 204), ("llama-3.1-70b", 64, 4, 815),
    ("llama-3.1-70b", 16, 8, 172), ("llama-3.1-70b", 64, 8, 688),
]


@pytest.mark.parametrize(("name", "rank", "tp", "mib"), LORA)
def test_lora_slot_table(name: str, rank: int, tp: int, mib: float) -> None:
    got = memory.lora_slot_bytes(arch(name), rank, tp) / (1 << 20)
    assert got == pytest.approx(mib, rel=0.01)


def test_lora_slot_equals_adapter_size_at_tp1() -> None:
    # Llama-3.1-8B r16 is 41.9M parameters at 2 bytes.
    assert memory.lora_slot_bytes(arch("llama-3.1-8b"), 16, 1) / 2 == pytest.approx(41.9e6, rel=0.01)


# The four worked examples at the end of memory.md, within 2 %.
def test_worked_example_qwen3_8b_tp1_fits() -> None:
    b = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=300_000)
    assert b.weights / GIB == pytest.approx(15.26, rel=0.02)
    assert b.kv / GIB == pytest.approx(41.20, rel=0.02)
    assert b.total / GIB == pytest.approx(59.5, rel=0.02)
    assert b.usable / GIB == pytest.approx(71.26, rel=0.001)
    assert b.verdict == memory.FITS


def test_worked_example_with_draft_does_not_fit() -> None:
    b = memory.estimate(
        arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=300_000, draft=arch("qwen3-0.6b")
    )
    assert b.draft_weights / GIB == pytest.approx(1.11, rel=0.02)
    assert b.draft_kv / GIB == pytest.approx(32.0, rel=0.02)
    assert b.total / GIB == pytest.approx(92.6, rel=0.02)
    assert b.verdict == memory.DOES_NOT_FIT


def test_worked_example_with_draft_tp2_fits() -> None:
    b = memory.estimate(
        arch("qwen3-8b"), gpu("H100-80GB"), tp=2, kv_cache_len=300_000, draft=arch("qwen3-0.6b")
    )
    assert b.weights / GIB == pytest.approx(7.63, rel=0.02)
    assert b.draft_weights / GIB == pytest.approx(0.56, rel=0.02)
    assert (b.kv + b.draft_kv) / GIB == pytest.approx(36.62, rel=0.02)
    assert b.total / GIB == pytest.approx(49.3, rel=0.02)
    assert b.verdict == memory.FITS


def test_worked_example_llama_70b_tp4() -> None:
    b = memory.estimate(arch("llama-3.1-70b"), gpu("H100-80GB"), tp=4, kv_cache_len=300_000)
    assert b.weights / GIB == pytest.approx(32.86, rel=0.02)
    assert b.kv / GIB == pytest.approx(22.89, rel=0.02)
    assert b.total / GIB == pytest.approx(60.7, rel=0.02)
    assert b.verdict == memory.FITS


def test_tight_verdict_between_95_and_100_percent() -> None:
    a, g = arch("qwen3-8b"), gpu("H100-80GB")
    base = memory.estimate(a, g, tp=1, kv_cache_len=16)
    per_token = memory.kv_bytes_per_token(a).full
    tokens = int((0.97 * base.usable - (base.total - base.kv)) / per_token)
    assert memory.estimate(a, g, tp=1, kv_cache_len=tokens).verdict == memory.TIGHT


@pytest.mark.parametrize(
    ("name", "tp", "draft", "adapters"),
    [("qwen3-8b", 1, None, 0), ("qwen3-8b", 2, "qwen3-0.6b", 3), ("gemma-3-27b", 2, None, 0),
     ("llama-3.1-70b", 4, None, 4), ("deepseek-v3", 8, None, 0)],
)
def test_max_kv_cache_len_is_the_largest_that_fits(
    name: str, tp: int, draft: str | None, adapters: int
) -> None:
    g = gpu("H200-141GB") if name != "deepseek-v3" else gpu("MI300X-192GB")
    kw = {"tp": tp, "draft": arch(draft) if draft else None, "adapters": adapters}
    best = memory.estimate(arch(name), g, kv_cache_len=16, **kw).max_kv_cache_len  # type: ignore[arg-type]
    assert best > 0
    at = memory.estimate(arch(name), g, kv_cache_len=best, **kw)  # type: ignore[arg-type]
    above = memory.estimate(arch(name), g, kv_cache_len=best + memory.BLOCK_SIZE, **kw)  # type: ignore[arg-type]
    assert at.total <= at.usable < above.total


def test_max_kv_cache_len_zero_when_weights_do_not_fit() -> None:
    b = memory.estimate(arch("llama-3.1-405b"), gpu("H100-80GB"), tp=1, kv_cache_len=1024)
    assert b.max_kv_cache_len == 0 and b.verdict == memory.DOES_NOT_FIT


def test_sliding_window_charged_per_sequence() -> None:
    g = arch("gemma-3-27b")
    small = memory.estimate(g, gpu("H200-141GB"), tp=2, kv_cache_len=200_000, concurrent_sequences=8)
    big = memory.estimate(g, gpu("H200-141GB"), tp=2, kv_cache_len=200_000, concurrent_sequences=64)
    naive = 200_000 * memory.kv_bytes_per_token(g, tp=2).full + 200_000 * memory.kv_bytes_per_token(g, tp=2).local
    assert small.kv < big.kv < naive
    assert small.kv == 200_000 * 40_960 + (8 * (1024 + 16) + 2048) * 212_992


def test_utilization_and_overhead_come_from_rules() -> None:
    rules = MemoryRules(utilization=0.5, overhead_gib_tp1=1.0)
    b = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=1000, rules=rules)
    assert b.usable == pytest.approx(85_017_493_504 * 0.5)
    assert b.overhead == GIB
