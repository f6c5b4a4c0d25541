"""An architecture from a Hugging Face `config.json` (for `architecture: path/to/config.json`).

Any model the catalog does not know can still be checked: point `architecture` at the
`config.json` of its checkpoint, kept in the workspace (read from disk, never fetched; in
`diff --base`, read from the git ref). The fields read are the ones the memory model uses:
the shape (hidden size, layers, heads, KV heads, head_dim, MLP size, vocabulary, tied
embeddings), mixture-of-experts, multi-head latent attention, sliding-window layers and the
published quantization. `HfConfigError` explains what is missing or unreadable.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from adaptive_deploy.rules.catalog import Architecture, Mla, Moe, SlidingWindow


class HfConfigError(ValueError):
    """The file is not a usable Hugging Face config.json (the message says why)."""


# model_type → tokenizer family (drafts must share it); anything else: the model_type itself.
_FAMILIES = {
    "qwen2": "qwen2.5", "qwen2_moe": "qwen2.5", "qwen3": "qwen3", "qwen3_moe": "qwen3",
    "llama": "llama3", "llama4": "llama4", "llama4_text": "llama4", "mistral": "mistral",
    "mixtral": "mixtral", "gemma2": "gemma2", "gemma3": "gemma3", "gemma3_text": "gemma3",
    "phi3": "phi3", "deepseek_v2": "deepseek-v2", "deepseek_v3": "deepseek-v3",
    "gpt_oss": "gpt-oss",
}
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text"}
_FOUR_NORMS = {"gemma2", "gemma3", "gemma3_text"}


def _int(cfg: dict[str, Any], *keys: str, default: int | None = None) -> int:
    for key in keys:
        value = cfg.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    if default is not None:
        return default
    raise HfConfigError(f"config.json has no positive integer {keys[0]!r}")


def precision_of(cfg: dict[str, Any]) -> str | None:
    """The weight format a config's `quantization_config` declares (None: unquantized)."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower()
    bits = q.get("bits") or q.get("w_bit")
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if method == "mxfp4":
        return "mxfp4"
    if method in ("awq", "gptq"):
        return f"int4-{method}" if bits in (None, 4) else None
    if method in ("modelopt", "modelopt_fp4") or "nvfp4" in json.dumps(q).lower():
        return "nvfp4"
    if method == "compressed-tensors":
        groups = q.get("config_groups") or {}
        for group in groups.values() if isinstance(groups, dict) else ():
            weights = group.get("weights") or {}
            n, kind = weights.get("num_bits"), str(weights.get("type", ""))
            if n == 8:
                return "fp8" if kind == "float" else "int8"
            if n == 4:
                return "int4-gptq"
    return None


def architecture_from_config(name: str, cfg: Any) -> tuple[Architecture, str | None]:
    """(Architecture, declared weight format or None) from a parsed config.json."""
    if not isinstance(cfg, dict):
        raise HfConfigError("config.json is not a JSON object")
    nested = cfg.get("text_config")
    text: dict[str, Any] = nested if isinstance(nested, dict) else cfg
    model_type = str(text.get("model_type") or cfg.get("model_type") or "")
    hidden = _int(text, "hidden_size", "n_embd", "d_model")
    layers = _int(text, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(text, "num_attention_heads", "n_head")
    kv_heads = _int(text, "num_key_value_heads", default=heads)
    head_dim = _int(text, "head_dim", default=hidden // heads)
    inter = _int(text, "intermediate_size", "ffn_dim", default=4 * hidden)
    vocab = _int(text, "vocab_size")
    tie = bool(text.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False)))

    moe = None
    experts = _int(text, "num_experts", "num_local_experts", "n_routed_experts", default=0)
    if experts > 1:
        first_dense = _int(text, "first_k_dense_replace", default=0)
        step = _int(text, "interleave_moe_layer_step", "decoder_sparse_step", default=1)
        moe_layers = len([i for i in range(first_dense, layers) if (i + 1) % step == 0])
        shared = _int(text, "n_shared_experts", default=0)
        if not shared and _int(text, "shared_expert_intermediate_size", default=0):
            shared = 1
        moe = Moe(
            num_experts=experts,
            top_k=_int(text, "num_experts_per_tok", "moe_top_k", default=1),
            expert_intermediate_size=_int(text, "moe_intermediate_size", default=inter),
            shared_experts=shared,
            dense_layers=layers - moe_layers,
            dense_intermediate_size=_int(text, "intermediate_size_mlp", default=inter),
            router_bias=text.get("topk_method") == "noaux_tc",
        )

    mla = None
    if _int(text, "kv_lora_rank", default=0):
        q_lora = text.get("q_lora_rank")
        mla = Mla(
            kv_lora_rank=_int(text, "kv_lora_rank"),
            qk_rope_head_dim=_int(text, "qk_rope_head_dim"),
            qk_nope_head_dim=_int(text, "qk_nope_head_dim"),
            v_head_dim=_int(text, "v_head_dim"),
            q_lora_rank=q_lora if isinstance(q_lora, int) and q_lora > 0 else None,
        )
        head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim

    window = None
    layer_types = text.get("layer_types")
    size = text.get("sliding_window") or text.get("attention_chunk_size")
    if isinstance(layer_types, list) and isinstance(size, int):
        local = sum(1 for t in layer_types if "sliding" in str(t) or "chunked" in str(t))
        window = SlidingWindow(window=size, local_layers=local) if local else None
    elif isinstance(size, int) and size < _int(text, "max_position_embeddings", default=1 << 62):
        pattern = text.get("sliding_window_pattern")
        if isinstance(pattern, int) and pattern > 1:
            window = SlidingWindow(size, layers - layers // pattern)
        elif model_type == "gemma2":
            window = SlidingWindow(size, layers // 2)
        elif text.get("use_sliding_window", model_type in ("mistral", "mixtral")):
            window = SlidingWindow(size, layers)

    arch = Architecture(
        name=name,
        family=_FAMILIES.get(model_type, model_type or "unknown"),
        hidden_size=hidden,
        num_layers=layers,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        intermediate_size=inter,
        vocab_size=vocab,
        tie_word_embeddings=tie,
        max_position_embeddings=_int(text, "max_position_embeddings", default=0) or None,
        qk_norm=model_type in _QK_NORM,
        norms_per_layer=4 if model_type in _FOUR_NORMS else 2,
        moe=moe,
        mla=mla,
        sliding_window=window,
        hf_name=str(cfg.get("_name_or_path") or "") or None,
        source="config.json",
    )
    return arch, precision_of(cfg)


def parse(name: str, data: bytes) -> tuple[Architecture, str | None]:
    """Parse config.json bytes (raises HfConfigError with the reason)."""
    try:
        cfg = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HfConfigError(f"not valid JSON ({exc})") from None
    return architecture_from_config(name, cfg)


# -- where the file is read from ------------------------------------------------------------------


class DirectorySource:
    """Files relative to a workspace directory on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, relpath: str) -> bytes:
        """The file's bytes (OSError when it cannot be read)."""
        return (self.root / relpath).read_bytes()

    def describe(self, relpath: str) -> str:
        return relpath


class GitRefSource:
    """Files relative to a workspace directory as committed at a git ref (`diff --base`)."""

    def __init__(self, repo_root: Path, commit: str, prefix: str, ref: str) -> None:
        self.repo_root, self.commit, self.prefix, self.ref = repo_root, commit, prefix, ref

    def read(self, relpath: str) -> bytes:
        from adaptive_deploy import gitsource
        from adaptive_deploy.errors import UsageError

        path = posixpath.normpath(self.prefix + relpath)
        try:
            return gitsource.read_blobs(self.repo_root, self.commit, [path])[path]
        except UsageError:
            raise FileNotFoundError(2, "no such file at the ref") from None

    def describe(self, relpath: str) -> str:
        return f"{self.ref}:{posixpath.normpath(self.prefix + relpath)}"


def is_config_path(value: str) -> bool:
    """An `architecture:` value naming a config.json file rather than a catalog entry."""
    return value.strip().lower().endswith(".json")


def load(name: str, relpath: str, source: Any) -> tuple[Architecture, str | None]:
    """Read and parse `relpath` from `source` (raises HfConfigError with the reason)."""
    if source is None:
        raise HfConfigError("the workspace directory is unknown, so the file cannot be read")
    if PurePosixPath(relpath).is_absolute() or PureWindowsPath(relpath).is_absolute():
        raise HfConfigError("the path must be relative to the workspace directory")
    try:
        data = source.read(relpath)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise HfConfigError(f"cannot read {source.describe(relpath)}: {reason}") from None
    try:
        return parse(name, data)
    except HfConfigError as exc:
        raise HfConfigError(f"{source.describe(relpath)} is not a usable config.json: {exc}") from None
