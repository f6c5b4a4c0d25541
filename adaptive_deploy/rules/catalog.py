"""The architecture and GPU catalogs (data in `rules/data/*.yaml`) and the name lookups.

Platform model keys (`qwen-3-8b`, `llama-3.1-8b-instruct`) map onto catalog architectures (the
Hugging Face names lowercased, `qwen3-8b`), and the GPU strings a live pool reports ("NVIDIA H100
80GB HBM3") map onto catalog GPU names (`H100-80GB`). Lookups return None for unknown names; the
rules turn that into an "unchecked" warning, never a silent pass.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adaptive_deploy.config.models import InlineArchitecture


@dataclass(frozen=True)
class Moe:
    """Mixture-of-experts MLP: routed experts (plus shared ones) replace the dense MLP."""

    num_experts: int
    top_k: int
    expert_intermediate_size: int
    shared_experts: int = 0
    dense_layers: int = 0                      # layers that keep a dense MLP
    dense_intermediate_size: int | None = None  # their MLP size (default: intermediate_size)
    router_bias: bool = False


@dataclass(frozen=True)
class Mla:
    """Multi-head latent attention (DeepSeek-V2/V3): the KV cache stores one latent per layer."""

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None = None


@dataclass(frozen=True)
class SlidingWindow:
    """`local_layers` of the model's layers attend only to the last `window` tokens."""

    window: int
    local_layers: int


@dataclass(frozen=True)
class Architecture:
    """One model shape, as config.json describes it."""

    name: str
    family: str
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    max_position_embeddings: int | None = None
    precision: str = "bf16"
    qk_norm: bool = False
    norms_per_layer: int = 2
    moe: Moe | None = None
    mla: Mla | None = None
    sliding_window: SlidingWindow | None = None
    params_override: int | None = None
    extra_params: int = 0            # loaded besides the language model (a vision tower)
    hf_name: str | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""

    @property
    def global_layers(self) -> int:
        """Layers whose KV cache holds every token."""
        return self.num_layers - (self.sliding_window.local_layers if self.sliding_window else 0)


@dataclass(frozen=True)
class Gpu:
    """One GPU type: the memory the inference engine sees and the strings pools report."""

    name: str
    cuda_total_bytes: int
    live_names: tuple[str, ...] = field(default=())
    source: str = ""
    gpu_class: str = "small"         # vLLM's batch-default class: "large" (>= 70 GiB, not A100)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class WeightFormat:
    """How a checkpoint format stores weights (rules/data/formats.yaml)."""

    name: str
    bytes: float                      # per parameter of the quantized layers
    quantizes: str                    # "none" | "linear" | "mlp"
    expert_pad: int = 0
    bf16_edge_layers: bool = False    # the first and last decoder layers stay in bf16
    description: str = ""


def _load_yaml(filename: str) -> dict[str, Any]:
    import yaml

    text = resources.files("adaptive_deploy.rules").joinpath("data", filename).read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
    data = yaml.load(text, Loader=loader)
    if not isinstance(data, dict):
        raise RuntimeError(f"rules/data/{filename} is not a mapping")  # packaging bug, not input
    return data


def _architecture(name: str, raw: dict[str, Any]) -> Architecture:
    raw = dict(raw)
    moe = raw.pop("moe", None)
    mla = raw.pop("mla", None)
    sw = raw.pop("sliding_window", None)
    aliases = tuple(raw.pop("aliases", ()) or ())
    if "head_dim" not in raw:
        raw["head_dim"] = raw["hidden_size"] // raw["num_attention_heads"]
    return Architecture(
        name=name,
        moe=Moe(**moe) if moe else None,
        mla=Mla(**mla) if mla else None,
        sliding_window=SlidingWindow(**sw) if sw else None,
        aliases=aliases,
        **raw,
    )


@functools.cache
def architectures() -> dict[str, Architecture]:
    """Every catalog architecture by name."""
    raw = _load_yaml("architectures.yaml")["architectures"]
    return {name: _architecture(name, spec) for name, spec in raw.items()}


@functools.cache
def gpus() -> dict[str, Gpu]:
    """Every catalog GPU by name (`H100-80GB`, ...)."""
    raw = _load_yaml("gpus.yaml")["gpus"]
    return {
        name: Gpu(
            name=name,
            cuda_total_bytes=int(spec["cuda_total_bytes"]),
            live_names=tuple(spec.get("live_names", ())),
            source=str(spec.get("source", "")),
            gpu_class=str(spec.get("class", "small")),
            aliases=tuple(spec.get("aliases", ())),
        )
        for name, spec in raw.items()
    }


@functools.cache
def weight_formats() -> dict[str, WeightFormat]:
    """Every weight format by name (`bf16`, `fp8`, `int4-awq`, ...)."""
    raw = _load_yaml("formats.yaml")["formats"]
    return {
        name: WeightFormat(
            name=name,
            bytes=float(spec["bytes"]),
            quantizes=str(spec["quantizes"]),
            expert_pad=int(spec.get("expert_pad", 0)),
            bf16_edge_layers=bool(spec.get("bf16_edge_layers", False)),
            description=str(spec.get("description", "")),
        )
        for name, spec in raw.items()
    }


# Chat-tuned checkpoints share the base model's shape; the suffix names a fine-tune, not an
# architecture. `_accelerated` (a draft-training output) is deliberately NOT stripped: that key
# names a different model, and the config must say its architecture (SPEC §2 example).
_TUNE_SUFFIX = re.compile(r"-(instruct|it|chat)$")


def _compact(name: str) -> str:
    """Case- and separator-insensitive form: `Qwen-3-8B` and `qwen3-8b` both → `qwen38b`."""
    return re.sub(r"[-\s]", "", name.lower())


@functools.cache
def _architecture_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for arch in architectures().values():
        for alias in (arch.name, *arch.aliases, *((arch.hf_name,) if arch.hf_name else ())):
            index.setdefault(_compact(alias), arch.name)
            # `Qwen/Qwen3-8B` also matches without its organisation.
            index.setdefault(_compact(alias.rsplit("/", 1)[-1]), arch.name)
    return index


def normalize_model_key(key: str) -> str:
    """Lowercase a platform model key and strip a fine-tune suffix (`-instruct`, `-it`)."""
    return _TUNE_SUFFIX.sub("", key.strip().lower())


def resolve_architecture_name(name_or_key: str) -> str | None:
    """Catalog architecture name for an architecture name, alias or platform model key."""
    index = _architecture_index()
    bare = name_or_key.rsplit("/", 1)[-1]  # `meta-llama/Llama-3.3-70B-Instruct` → the model
    for candidate in (name_or_key, normalize_model_key(name_or_key), bare, normalize_model_key(bare)):
        hit = index.get(_compact(candidate))
        if hit is not None:
            return hit
    return None


def find_architecture(name_or_key: str) -> Architecture | None:
    """The catalog architecture an architecture name or platform model key names, if any."""
    name = resolve_architecture_name(name_or_key)
    return architectures()[name] if name else None


def suggest_architecture(model_key: str) -> str | None:
    """For an unknown model key, a catalog architecture the user may have meant: used only in
    messages (e.g. `qwen-3-8b_accelerated` → `qwen3-8b`), never applied silently."""
    base = re.sub(r"(_accelerated|_draft|[-_]v\d+)$", "", model_key.lower())
    return resolve_architecture_name(base) if base != model_key.lower() else None


def architecture_from_inline(name: str, inline: InlineArchitecture) -> Architecture:
    """An Architecture from an inline `architecture:` mapping of the configuration."""
    return Architecture(
        name=name,
        family=inline.family,
        hidden_size=inline.hidden_size,
        num_layers=inline.num_layers,
        num_attention_heads=inline.num_attention_heads,
        num_kv_heads=inline.num_kv_heads,
        head_dim=inline.head_dim or inline.hidden_size // inline.num_attention_heads,
        intermediate_size=inline.intermediate_size,
        vocab_size=inline.vocab_size,
        tie_word_embeddings=inline.tie_word_embeddings,
        params_override=inline.params,
    )


@functools.cache
def _gpu_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for gpu in gpus().values():
        for alias in (gpu.name, *gpu.aliases, *gpu.live_names):
            index.setdefault(_compact(alias), gpu.name)
    return index


def resolve_gpu_name(name_or_live: str) -> str | None:
    """Catalog GPU name for a GPU name (`H100-80GB`) or a live string ("NVIDIA H100 80GB HBM3").

    A pool may report several types separated by commas; the first known one wins.
    """
    index = _gpu_index()
    for part in name_or_live.split(","):
        hit = index.get(_compact(part))
        if hit is not None:
            return hit
    return None


def find_gpu(name_or_live: str) -> Gpu | None:
    """The catalog GPU for a GPU name or live GPU string, if known."""
    name = resolve_gpu_name(name_or_live)
    return gpus()[name] if name else None
