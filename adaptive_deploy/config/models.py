"""The configuration format v1 as pydantic models (SPEC §2).

Strict on input: every model forbids unknown keys, every field is described (the descriptions
become the published JSON Schema, `schemas/adaptive-deploy.v1.schema.json`). A field left out
is unmanaged; an explicit `null` is invalid, so optional fields are typed without `None` in the
schema (see `_no_null`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, model_validator

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# GraphQL `Int` is a signed 32-bit integer: a larger value cannot reach the platform.
INT32_MAX = 2**31 - 1

# Keys of projects, models, deployments, jobs and compute pools become resource addresses
# (`deployment.<project>/<model>`): no empty key, no '/', no spaces or control characters.
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]


class Strict(BaseModel):
    """Base of every configuration model: unknown keys and explicit nulls are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        # `None in values()` scans in C; the loop only runs to name the null key.
        if isinstance(data, dict) and None in data.values():
            for k, v in data.items():
                if v is None:
                    raise ValueError(f"'{k}' is null; leave the field out to leave it unmanaged")
        return data


class PlatformConfig(Strict):
    base_url: str | None = Field(
        None,
        description="Control-plane URL, e.g. https://adaptive.example.com; may be ${env:NAME}. "
        "Falls back to the ADAPTIVE_BASE_URL environment variable; with neither, the embedded "
        "local platform is used.",
    )
    api_key_env: str = Field(
        "ADAPTIVE_API_KEY",
        pattern=ENV_NAME_PATTERN,
        description="NAME of the environment variable holding the API key. A literal key is rejected.",
    )
    server_timeout_s: int = Field(
        60, gt=0, description="The control plane's ADAPTIVE_SERVER__TIMEOUT_SECONDS."
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Client timeout for one HTTP request, in seconds."
    )
    max_retries: int = Field(
        5, ge=0, le=20, description="Retries of a failed request (connection errors, 408, 429, 5xx)."
    )


class StateConfig(Strict):
    backend: Literal["local", "postgres"] = Field(
        "local",
        description="local: SQLite file .adaptive-deploy/state.db beside the config; postgres: "
        "a PostgreSQL database named by dsn_env.",
    )
    dsn_env: str | None = Field(
        None,
        pattern=ENV_NAME_PATTERN,
        description="NAME of the environment variable holding the PostgreSQL DSN (postgres backend).",
    )
    path: str | None = Field(
        None, description="local backend: path of the SQLite file, relative to the workspace."
    )
    lock_lease_s: float = Field(
        30.0, ge=2, le=3600,
        description="postgres backend: seconds a lock holder's lease lasts unless renewed (it "
        "renews every third of it while it runs). Another process takes a lock over only once "
        "its lease expired, or at once when its holder was a process of the same machine that "
        "is gone.",
    )


class PoolMemory(Strict):
    """Memory-model settings; in `rules.memory` for every pool, in `compute_pools.<key>.memory`
    for one pool (which wins). Left out: the calibrated default for the pool's GPU class."""

    utilization: float | None = Field(
        None, gt=0, le=1, description="Fraction of CUDA memory the engine may use (vLLM 0.90/0.92)."
    )
    max_batched_tokens: int | None = Field(
        None, gt=0,
        description="The engine's max batched tokens per step (vLLM max_num_batched_tokens); "
        "default by GPU class: 8192 on >= 70 GiB GPUs other than A100, else 2048.",
    )
    max_num_seqs: int | None = Field(
        None, gt=0, description="The engine's max concurrent sequences; default 1024 / 256 by GPU class."
    )
    non_torch_gib: float | None = Field(
        None, ge=0, description="Per-GPU non-torch memory (NCCL, cuBLAS, workspaces), GiB; default calibrated by tp."
    )
    activation_gib: float | None = Field(
        None, ge=0, description="Per-GPU activation peak, GiB; default calibrated from the model and batch settings."
    )
    cudagraph_gib: float | None = Field(
        None, ge=0, description="Per-GPU CUDA-graph memory, GiB (0 for eager mode); default by GPU class."
    )
    overhead_gib_tp1: float | None = Field(
        None, ge=0, description="Fixed per-GPU overhead at tp=1, GiB: replaces the calibrated overhead."
    )
    overhead_gib_tp_multi: float | None = Field(
        None, ge=0, description="Fixed per-GPU overhead at tp>=2, GiB: replaces the calibrated overhead."
    )
    tight_fraction: float | None = Field(
        None, gt=0, le=1,
        description="Deprecated: need above this fraction of usable memory is 'tight'. "
        "By default the band is the memory model's measured error.",
    )


class ComputePoolSpec(Strict):
    gpu: str = Field(description="GPU type, e.g. H100-80GB, H200-141GB, A100-80GB.")
    gpus_per_replica: int = Field(8, gt=0, description="GPUs per replica (node).")
    replicas: int = Field(1, gt=0, description="Number of replicas (nodes) in the pool.")
    memory: PoolMemory | None = Field(
        None, description="Memory-model settings for this pool; override rules.memory."
    )


class ComputeConfig(Strict):
    tp: int | None = Field(
        None, gt=0, le=INT32_MAX, description="Tensor-parallel degree: GPUs per model replica."
    )
    kv_cache_len: int | None = Field(
        None, gt=0, le=INT32_MAX, description="Tokens of KV cache reserved per replica."
    )
    max_seq_len: int | None = Field(
        None, gt=0, le=INT32_MAX, description="Maximum sequence length in tokens."
    )


class InlineArchitecture(Strict):
    """An architecture not in the catalog, described by its Hugging Face config values."""

    family: str = Field(description="Tokenizer family, e.g. qwen3, llama3; drafts must match.")
    hidden_size: int = Field(gt=0, description="config.json hidden_size.")
    num_layers: int = Field(gt=0, description="config.json num_hidden_layers.")
    num_attention_heads: int = Field(gt=0, description="config.json num_attention_heads.")
    num_kv_heads: int = Field(gt=0, description="config.json num_key_value_heads.")
    head_dim: int | None = Field(None, gt=0, description="config.json head_dim; default hidden/heads.")
    intermediate_size: int = Field(gt=0, description="config.json intermediate_size.")
    vocab_size: int = Field(gt=0, description="config.json vocab_size.")
    tie_word_embeddings: bool = Field(False, description="config.json tie_word_embeddings.")
    params: int | None = Field(
        None, gt=0, description="Total parameter count; computed from the shape when left out."
    )


WeightPrecision = Literal["bf16", "fp8", "fp8-mlp", "int8", "int4-awq", "int4-gptq", "mxfp4", "nvfp4"]


class ModelSpec(Strict):
    architecture: str | InlineArchitecture | None = Field(
        None,
        description="Catalog architecture (Hugging Face name lowercased, e.g. qwen3-8b), a path "
        "to the checkpoint's Hugging Face config.json relative to the workspace (e.g. "
        "models/my-model/config.json), or an inline mapping; by default looked up from the "
        "model key (qwen-3-8b → qwen3-8b).",
    )
    precision: WeightPrecision | None = Field(
        None,
        description="Weight format as stored; used by the memory rules, not applied. Default: "
        "the catalog's (bf16 unless published quantised). fp8-mlp keeps attention in bf16; "
        "int4-awq/int4-gptq include group-128 scales.",
    )
    kv_cache_dtype: Literal["auto", "bf16", "fp8"] | None = Field(
        None,
        description="KV-cache dtype: auto (the model dtype, bf16) or fp8 (half the bytes). "
        "precision fp8 does not imply an fp8 KV cache. Default auto.",
    )
    compute_config: ComputeConfig | None = Field(
        None, description="The registry model's global compute config; fields left out are unmanaged."
    )
    adapter_of: str | None = Field(
        None, description="For a LoRA adapter: the key of its base model."
    )
    rank: int | None = Field(None, gt=0, description="LoRA rank of an adapter.")
    draft: str | None = Field(
        None,
        description="Speculative-decoding draft architecture; must share the target's tokenizer family.",
    )
    produced_by: str | None = Field(
        None, description="Name of the job that produces this model (e.g. specdec_alignment)."
    )


class Placement(Strict):
    compute_pools: list[str] = Field(
        min_length=1, description="Compute pools serving the deployment; compared as a set."
    )
    max_ttft_ms: int | None = Field(
        None, gt=0, le=INT32_MAX, description="Maximum time to first token in milliseconds."
    )


class DeploymentSpec(Strict):
    placement: Placement | None = Field(None, description="Where the model runs.")
    is_default: bool | None = Field(None, description="The project's default model.")
    desired_online: bool | None = Field(None, description="Whether the deployment should be loaded.")
    num_draft_steps: int | None = Field(
        None,
        description="Speculative-decoding draft steps, 1..8; write-only on the platform, "
        "tracked in state.",
    )
    protect: bool = Field(False, description="Refuse to delete this deployment while true.")
    adopt: bool = Field(
        False,
        description="Take over this deployment when it already exists on the platform but not "
        "in this workspace's state (otherwise plan refuses and names the import command).",
    )


class ProjectSpec(Strict):
    name: str | None = Field(None, description="Display name; default: the project key.")
    description: str | None = Field(None, description="Project description.")
    adopt: bool = Field(
        False,
        description="Take over this project when it already exists on the platform but not in "
        "this workspace's state (otherwise plan refuses and names the import command).",
    )
    deployments: dict[Key, DeploymentSpec] = Field(
        default_factory=dict, description="Models bound to the project, by model key."
    )


class JobSpec(Strict):
    recipe: str = Field(description="Recipe key, e.g. specdec_alignment.")
    project: str = Field(description="Project the job runs in.")
    num_gpus: int | None = Field(None, gt=0, le=INT32_MAX, description="GPUs for the job.")
    compute_pool: str | None = Field(None, description="Compute pool to run the job on.")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Recipe arguments; values may use ${env:NAME} (sensitive, redacted).",
    )


class MemoryRules(PoolMemory):
    """Memory-model settings for every pool (a pool's own `memory` block wins)."""

    utilization: float | None = Field(
        0.90, gt=0, le=1, description="Fraction of CUDA memory the engine may use (vLLM 0.90/0.92)."
    )


class RulesConfig(Strict):
    adapters_per_base_model: int = Field(
        4, gt=0, description="Adapters deployed per base model (platform limit)."
    )
    memory: MemoryRules = Field(default_factory=MemoryRules, description="Memory-fit parameters.")


class Workspace(Strict):
    version: Literal[1] = Field(description="Configuration format version; must be 1.")
    workspace: str = Field(
        pattern=KEY_PATTERN, description="Workspace name: names the state and its lock."
    )
    platform: PlatformConfig = Field(
        default_factory=PlatformConfig,
        description="Control-plane connection; omit for the embedded local platform.",
    )
    state: StateConfig = Field(default_factory=StateConfig, description="State backend.")
    compute_pools: dict[Key, ComputePoolSpec] = Field(
        default_factory=dict,
        description="Expected compute pools; used offline and checked against live.",
    )
    models: dict[Key, ModelSpec] = Field(
        default_factory=dict, description="Registry models and adapters, by platform model key."
    )
    projects: dict[Key, ProjectSpec] = Field(default_factory=dict, description="Projects by key.")
    jobs: dict[Key, JobSpec] = Field(default_factory=dict, description="One-shot jobs by name.")
    rules: RulesConfig = Field(default_factory=RulesConfig, description="Rule overrides.")
    # Where files the configuration names (a config.json architecture) are read from: set by
    # the loader (the workspace directory) or by `diff --base` (the git ref). Not config.
    _files: Any = PrivateAttr(default=None)
