"""The architecture and GPU catalogs and their name lookups."""

from __future__ import annotations

import pytest

from adaptive_deploy.rules import catalog

SPEC_GPU_NAMES = {
    "A100-40GB", "A100-80GB", "H100-80GB", "H100-NVL-94GB", "H200-141GB",
    "B200-192GB", "L40S-48GB", "L4-24GB", "A10G-24GB", "MI300X-192GB",
}

MEMORY_MD_MODELS = {
    "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b",
    "qwen3-30b-a3b", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b",
    "llama-3.1-405b", "mistral-7b-v0.3", "gemma-3-27b", "deepseek-v3",
}


def test_catalog_holds_every_model_of_memory_md() -> None:
    assert set(catalog.architectures()) >= MEMORY_MD_MODELS


# The families the memory issue asks for, each with at least one entry.
WANTED = [
    "llama-3.1-8b", "llama-3.3-70b", "llama-4-scout", "llama-4-maverick", "qwen2.5-0.5b",
    "qwen2.5-72b", "qwen3-30b-a3b", "qwen3-235b-a22b", "qwen3-coder-480b-a35b", "gpt-oss-20b",
    "gpt-oss-120b", "mistral-7b-v0.3", "mistral-small-3.2", "mistral-nemo", "mixtral-8x7b",
    "gemma-2-9b", "gemma-3-27b", "phi-3.5-mini", "phi-4-mini", "deepseek-v2-lite", "deepseek-v3",
    "deepseek-r1", "deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-70b",
    "gemma-3-4b", "gemma-3-12b", "phi-4", "deepseek-r1-distill-qwen-1.5b", "deepseek-r1-distill-qwen-7b",
    "deepseek-r1-distill-llama-8b", "qwen3-coder-30b-a3b",
]


@pytest.mark.parametrize("name", WANTED)
def test_catalogue_breadth(name: str) -> None:
    assert catalog.find_architecture(name) is not None


def test_every_entry_names_its_source() -> None:
    for arch in catalog.architectures().values():
        assert arch.source and arch.hf_name, arch.name


def test_hugging_face_names_resolve() -> None:
    assert catalog.resolve_architecture_name("Qwen/Qwen3-8B") == "qwen3-8b"
    assert catalog.resolve_architecture_name("meta-llama/Llama-3.3-70B-Instruct") == "llama-3.1-70b"


def test_families_are_tokenizer_families() -> None:
    fams = {a.name: a.family for a in catalog.architectures().values()}
    assert fams["qwen3-0.6b"] == fams["qwen3-8b"] == "qwen3"
    assert fams["llama-3.2-1b"] == fams["llama-3.1-405b"] == "llama3"
    assert fams["mistral-7b-v0.3"] == "mistral"
    assert fams["gemma-3-27b"] == "gemma3"
    assert fams["deepseek-v3"] == "deepseek-v3"


def test_special_shapes() -> None:
    gemma = catalog.architectures()["gemma-3-27b"]
    assert gemma.sliding_window is not None
    assert (gemma.global_layers, gemma.sliding_window.local_layers) == (10, 52)
    assert gemma.sliding_window.window == 1024
    ds = catalog.architectures()["deepseek-v3"]
    assert ds.mla is not None and ds.precision == "fp8"
    assert catalog.architectures()["qwen3-30b-a3b"].moe is not None


@pytest.mark.parametrize(
    ("key", "arch"),
    [
        ("qwen-3-8b", "qwen3-8b"),
        ("qwen-3-500m", "qwen3-0.6b"),
        ("qwen3-0.6b", "qwen3-0.6b"),
        ("llama-3.1-8b-instruct", "llama-3.1-8b"),
        ("Llama-3.1-70B-Instruct", "llama-3.1-70b"),
        ("llama-3.3-70b", "llama-3.1-70b"),
        ("mistral-7b-v0.3", "mistral-7b-v0.3"),
        ("gemma-3-27b-it", "gemma-3-27b"),
        ("qwen-3-30b-a3b", "qwen3-30b-a3b"),
    ],
)
def test_platform_keys_map_to_architectures(key: str, arch: str) -> None:
    assert catalog.resolve_architecture_name(key) == arch


def test_accelerated_suffix_is_not_stripped_silently() -> None:
    assert catalog.find_architecture("qwen-3-8b_accelerated") is None
    # ...but it is offered as a suggestion in messages.
    assert catalog.suggest_architecture("qwen-3-8b_accelerated") == "qwen3-8b"


def test_unknown_architecture() -> None:
    assert catalog.find_architecture("not-a-model-7b") is None


def test_gpu_names_include_the_spec_names() -> None:
    assert set(catalog.gpus()) >= SPEC_GPU_NAMES


@pytest.mark.parametrize(
    "name",
    ["A10-24GB", "A10G-24GB", "L4-24GB", "L40S-48GB", "A100-40GB", "A100-80GB", "H100-PCIe-80GB",
     "H100-80GB", "H100-NVL-94GB", "H200-141GB", "H20-96GB", "GH200-96GB", "B200-192GB",
     "RTX-4090-24GB", "MI300X-192GB"],
)
def test_gpu_breadth(name: str) -> None:
    assert name in catalog.gpus()


def test_gpu_classes_follow_vllm_batch_defaults() -> None:
    # >= 70 GiB and not an A100: large (vllm EngineArgs.get_batch_defaults).
    for gpu in catalog.gpus().values():
        big = gpu.cuda_total_bytes >= 70 * (1 << 30) and not gpu.name.startswith("A100")
        assert gpu.gpu_class == ("large" if big else "small"), gpu.name


@pytest.mark.parametrize(
    ("live", "name"),
    [
        ("NVIDIA H100 80GB HBM3", "H100-80GB"),
        ("NVIDIA H200", "H200-141GB"),
        ("NVIDIA A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB"),
        ("AMD Instinct MI300X", "MI300X-192GB"),
        ("NVIDIA L40S", "L40S-48GB"),
        ("h100-80gb", "H100-80GB"),
        ("H100-SXM-80GB", "H100-80GB"),
        ("NVIDIA H100 PCIe", "H100-PCIe-80GB"),
        ("NVIDIA GeForce RTX 4090", "RTX-4090-24GB"),
        ("NVIDIA H20", "H20-96GB"),
        ("NVIDIA H200, NVIDIA H200", "H200-141GB"),
    ],
)
def test_live_gpu_strings_map_to_names(live: str, name: str) -> None:
    assert catalog.resolve_gpu_name(live) == name


def test_unknown_gpu() -> None:
    assert catalog.find_gpu("NVIDIA GeForce RTX 2060") is None


def test_measured_cuda_totals() -> None:
    assert catalog.gpus()["H100-80GB"].cuda_total_bytes == 85_017_493_504
    assert catalog.gpus()["H200-141GB"].cuda_total_bytes == 150_109_880_320
    assert catalog.gpus()["MI300X-192GB"].cuda_total_bytes == 206_141_652_992


# -- the entries added for Gemma 3 4B/12B, Phi-4 and the R1 distills -------------------------------
#
# Parameter counts a source outside the project publishes for the same checkpoint. keras-hub's
# Gemma 3 presets (keras-team/keras-hub keras_hub/src/models/gemma3/gemma3_presets.py, the
# text-only models) count exact parameters with a 262,144-token embedding, where the Hugging
# Face checkpoints (vocab_size 262,208, tied) carry 64 more rows; the Hugging Face "Model size"
# figures are the safetensors totals of bf16 copies (mlx-community/phi-4-bf16,
# mlx-community/DeepSeek-R1-Distill-Qwen-1.5B-bf16), rounded to three digits.

KERAS_GEMMA3_TEXT_PARAMS = {
    "gemma-3-1b": 999_885_952,
    "gemma-3-4b": 3_880_099_328,
    "gemma-3-12b": 11_765_788_416,
}


@pytest.mark.parametrize("name", sorted(KERAS_GEMMA3_TEXT_PARAMS))
def test_gemma3_parameters_match_keras_hub_presets(name: str) -> None:
    from adaptive_deploy.rules import memory

    arch = catalog.architectures()[name]
    extra_rows = arch.vocab_size - 262_144
    assert memory.param_counts(arch).total == KERAS_GEMMA3_TEXT_PARAMS[name] + extra_rows * arch.hidden_size


@pytest.mark.parametrize(
    ("name", "billions"),
    [("phi-4", 14.7), ("deepseek-r1-distill-qwen-1.5b", 1.78)],
)
def test_parameters_match_the_published_model_size(name: str, billions: float) -> None:
    from adaptive_deploy.rules import memory

    total = memory.param_counts(catalog.architectures()[name]).total
    assert round(total / 1e9, 2 if billions < 10 else 1) == billions


def test_gemma3_global_layers_follow_the_sliding_window_pattern() -> None:
    # sliding_window_pattern 6: every sixth layer attends to the whole sequence.
    for name, layers in [("gemma-3-1b", 26), ("gemma-3-4b", 34), ("gemma-3-12b", 48), ("gemma-3-27b", 62)]:
        arch = catalog.architectures()[name]
        assert arch.num_layers == layers
        assert arch.global_layers == layers // 6, name
        assert arch.sliding_window is not None


@pytest.mark.parametrize(
    ("key", "arch"),
    [
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-r1-distill-qwen-1.5b"),
        ("deepseek-r1-distill-qwen-7b", "qwen2.5-7b"),
        ("deepseek-r1-distill-llama-8b", "llama-3.1-8b"),
        ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3-30b-a3b"),
        ("google/gemma-3-4b-it", "gemma-3-4b"),
        ("gemma-3-12b-it", "gemma-3-12b"),
        ("microsoft/phi-4", "phi-4"),
    ],
)
def test_new_names_resolve(key: str, arch: str) -> None:
    assert catalog.resolve_architecture_name(key) == arch


def test_phi4_and_phi4_mini_are_different_tokenizer_families() -> None:
    # 100,352 ids (cl100k-based) against 200,064 (o200k-based): a mini is no draft for Phi-4.
    archs = catalog.architectures()
    assert archs["phi-4"].family != archs["phi-4-mini"].family


# cuda totals copied from device queries that name the card (sources in gpus.yaml).
DEVICE_QUERY_TOTALS = {
    "A10-24GB": 23_609_475_072,       # aalanwyr/face2cuda, "21.99 GBytes (23609475072 bytes)"
    "L4-24GB": 23_570_219_008,        # thamada/nvidia-smi L4 deviceQuery, 22478 MBytes
    "L40S-48GB": 47_576_711_168,      # alvarobartt/cuda-device-query, 45373 MBytes
    "H100-NVL-94GB": 99_861_594_112,  # thamada/nvidia-smi H100 NVL deviceQuery, 95235 MBytes
    "H20-96GB": 97_285 * (1 << 20),   # torch total_memory=97285MB (alipay/PainlessInferenceAcceleration)
    "GH200-96GB": 97_280 * (1 << 20), # OpenCL "97280 MB VRAM" (mredenti/PowerCapping)
    "MI300X-192GB": 196_592 * (1 << 20),  # hipDeviceProp "196592: Total Global Memory (MB)"
}


@pytest.mark.parametrize("name", sorted(DEVICE_QUERY_TOTALS))
def test_cuda_totals_copied_from_device_queries(name: str) -> None:
    assert catalog.gpus()[name].cuda_total_bytes == DEVICE_QUERY_TOTALS[name]


def test_only_the_h100_pcie_total_is_an_estimate() -> None:
    estimates = {g.name for g in catalog.gpus().values() if "estimate" in g.source}
    assert estimates == {"H100-PCIe-80GB"}
