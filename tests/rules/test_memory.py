"""The GPU-memory model against reference/memory.md (table values and worked examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_deploy.config.models import MemoryRules
from adaptive_deploy.rules import catalog, memory

GIB = 1 << 30
ROOT = Path(__file__).resolve().parents[2]

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


# The overhead of the calibrated model, recomputed here from rules/data/overhead.yaml with
# plain arithmetic (the formula of docs/memory-calibration.md), so a change to the code that
# departs from the documented formula fails.
def expected_overhead_gib(arch_name: str, gpu_name: str, tp: int) -> float:
    import yaml

    cal = yaml.safe_load((ROOT / "adaptive_deploy/rules/data/overhead.yaml").read_text())
    a, g = arch(arch_name), gpu(gpu_name)
    cls = cal["classes"][g.gpu_class]
    inter = a.intermediate_size / tp
    factor = cal["activation"]["token_factor"]
    if a.moe is not None:
        m = a.moe
        inter = ((m.top_k + m.shared_experts) * m.expert_intermediate_size + m.top_k * a.hidden_size) / tp
        factor *= cal["activation"]["moe_token_factor"]
    forward = factor * cls["max_batched_tokens"] * 2 * (a.hidden_size + 3 * inter)
    sampler = cal["activation"]["sampler_factor"] * cls["max_num_seqs"] * a.vocab_size * 4
    non_torch = cal["non_torch_gib"]["tp1" if tp == 1 else "tp_multi"]
    return non_torch + max(forward, sampler) / GIB + cls["cudagraph_gib"]


# The four worked examples at the end of memory.md: weights and KV as there (within 2 %), the
# overhead now the calibrated model's (the 3 / 5 GiB constants are gone).
def test_worked_example_qwen3_8b_tp1_fits() -> None:
    b = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=300_000)
    assert b.weights / GIB == pytest.approx(15.26, rel=0.02)
    assert b.kv / GIB == pytest.approx(41.20, rel=0.02)
    assert b.overhead / GIB == pytest.approx(expected_overhead_gib("qwen3-8b", "H100-80GB", 1), rel=1e-9)
    assert b.total == pytest.approx(b.weights + b.kv + b.overhead)
    assert b.usable / GIB == pytest.approx(71.26, rel=0.001)
    assert b.verdict == memory.FITS


def test_worked_example_with_draft_does_not_fit() -> None:
    b = memory.estimate(
        arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=300_000, draft=arch("qwen3-0.6b")
    )
    assert b.draft_weights / GIB == pytest.approx(1.11, rel=0.02)
    assert b.draft_kv / GIB == pytest.approx(32.0, rel=0.02)
    assert b.verdict == memory.DOES_NOT_FIT


def test_worked_example_with_draft_tp2_fits() -> None:
    b = memory.estimate(
        arch("qwen3-8b"), gpu("H100-80GB"), tp=2, kv_cache_len=300_000, draft=arch("qwen3-0.6b")
    )
    assert b.weights / GIB == pytest.approx(7.63, rel=0.02)
    assert b.draft_weights / GIB == pytest.approx(0.56, rel=0.02)
    assert (b.kv + b.draft_kv) / GIB == pytest.approx(36.62, rel=0.02)
    assert b.overhead / GIB == pytest.approx(expected_overhead_gib("qwen3-8b", "H100-80GB", 2), rel=1e-9)
    assert b.verdict == memory.FITS


def test_worked_example_llama_70b_tp4() -> None:
    b = memory.estimate(arch("llama-3.1-70b"), gpu("H100-80GB"), tp=4, kv_cache_len=300_000)
    assert b.weights / GIB == pytest.approx(32.86, rel=0.02)
    assert b.kv / GIB == pytest.approx(22.89, rel=0.02)
    assert b.overhead / GIB == pytest.approx(expected_overhead_gib("llama-3.1-70b", "H100-80GB", 4), rel=1e-9)
    assert b.verdict == memory.FITS


def test_small_gpu_class_uses_the_small_batch_defaults() -> None:
    # An L4 (vLLM: 2,048 batched tokens, 256 sequences) carries far less activation than an H100.
    small = memory.estimate(arch("llama-3.1-8b"), gpu("L4-24GB"), tp=1, kv_cache_len=1024)
    big = memory.estimate(arch("llama-3.1-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=1024)
    assert (small.max_batched_tokens, small.max_num_seqs) == (2048, 256)
    assert (big.max_batched_tokens, big.max_num_seqs) == (8192, 1024)
    assert small.activation < big.activation / 3
    assert small.overhead / GIB == pytest.approx(expected_overhead_gib("llama-3.1-8b", "L4-24GB", 1), rel=1e-9)


def test_tight_band_is_the_measured_error() -> None:
    a, g = arch("qwen3-8b"), gpu("H100-80GB")
    best = memory.estimate(a, g, tp=1, kv_cache_len=16).max_kv_cache_len
    margin_tokens = int(memory.calibration().tight_margin_gib * GIB / memory.kv_bytes_per_token(a).full)
    assert memory.estimate(a, g, tp=1, kv_cache_len=best).verdict == memory.TIGHT
    assert memory.estimate(a, g, tp=1, kv_cache_len=best - margin_tokens + 64).verdict == memory.TIGHT
    assert memory.estimate(a, g, tp=1, kv_cache_len=best - margin_tokens - 64).verdict == memory.FITS
    assert memory.estimate(a, g, tp=1, kv_cache_len=best + 16).verdict == memory.DOES_NOT_FIT


def test_deprecated_tight_fraction_still_sets_the_band() -> None:
    a, g = arch("qwen3-8b"), gpu("H100-80GB")
    rules = MemoryRules(tight_fraction=0.5)
    b = memory.estimate(a, g, tp=1, kv_cache_len=100_000, rules=rules)
    assert b.total > 0.5 * b.usable and b.verdict == memory.TIGHT


def test_fixed_overhead_settings_replace_the_model() -> None:
    rules = MemoryRules(overhead_gib_tp1=3.0, overhead_gib_tp_multi=5.0)
    one = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=1000, rules=rules)
    two = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=2, kv_cache_len=1000, rules=rules)
    assert (one.overhead, two.overhead) == (3 * GIB, 5 * GIB)
    assert one.overhead_fixed and two.overhead_fixed


def test_each_overhead_part_can_be_set() -> None:
    rules = MemoryRules(non_torch_gib=0.5, activation_gib=2.0, cudagraph_gib=0.0, max_batched_tokens=4096)
    b = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=1000, rules=rules)
    assert (b.non_torch, b.activation, b.cudagraph) == (0.5 * GIB, 2 * GIB, 0.0)
    assert b.max_batched_tokens == 4096


def test_fp8_kv_cache_halves_kv_bytes() -> None:
    a = arch("llama-3.1-8b")
    assert memory.kv_bytes_per_token(a, 1, "fp8").full * 2 == memory.kv_bytes_per_token(a, 1).full
    # precision fp8 alone does not change the KV cache
    b = memory.estimate(a, gpu("H100-80GB"), tp=1, kv_cache_len=1000, precision="fp8")
    assert b.kv == 1000 * 131_072


def test_fp8_mla_cache_is_vllms_fp8_ds_mla_page() -> None:
    # memory.md §1: fp8_ds_mla stores 656 bytes per layer per token for DeepSeek-V3.
    assert memory.kv_bytes_per_token(arch("deepseek-v3"), 8, "fp8").full == 61 * 656


@pytest.mark.parametrize(
    ("precision", "gib"),
    # Llama-3.1-8B: 6.98 B linear parameters; embeddings + lm_head (1.05 B) and norms in bf16.
    [("bf16", 14.96), ("fp8", 8.46), ("int8", 8.46), ("int4-awq", 5.33), ("nvfp4", 5.61)],
)
def test_weight_formats(precision: str, gib: float) -> None:
    assert memory.weight_bytes(arch("llama-3.1-8b"), precision) / GIB == pytest.approx(gib, abs=0.01)


def test_mxfp4_quantises_only_the_experts() -> None:
    a = arch("gpt-oss-20b")
    p = memory.param_counts(a)
    attention_and_embeddings = 2 * (p.attention + p.embedding + p.lm_head + p.other)
    # 32 experts x 3 x 2880 x 3072 (intermediate padded to 256) x 24 layers at 4.25 bits
    experts = 32 * 3 * 2880 * 3072 * 24 * 0.53125
    assert memory.weight_bytes(a, "mxfp4") == pytest.approx(attention_and_embeddings + experts)


def test_fp8_mlp_keeps_attention_and_edge_layers_in_bf16() -> None:
    a = arch("llama-3.1-405b")
    full = memory.weight_bytes(a, "fp8")
    mlp_only = memory.weight_bytes(a, "fp8-mlp")
    p = memory.param_counts(a)
    edge = 2 / a.num_layers
    assert mlp_only == pytest.approx(full + p.attention + p.mlp * edge)


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
    # H200: vLLM's large class, so one 8,192-token prefill chunk is in flight.
    assert small.kv == 200_000 * 40_960 + (8 * (1024 + 16) + 8192) * 212_992


def test_utilization_and_overhead_come_from_rules() -> None:
    rules = MemoryRules(utilization=0.5, overhead_gib_tp1=1.0)
    b = memory.estimate(arch("qwen3-8b"), gpu("H100-80GB"), tp=1, kv_cache_len=1000, rules=rules)
    assert b.usable == pytest.approx(85_017_493_504 * 0.5)
    assert b.overhead == GIB
