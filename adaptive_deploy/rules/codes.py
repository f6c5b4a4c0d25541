"""Stable diagnostic codes of stage 2: semantic and memory rules (AD3xx), checks against live
data (AD4xx).

Codes never change meaning once released; README.md lists every one ("Rules"
section) and a test keeps that table complete.
"""

from __future__ import annotations

# Memory fit.
MEMORY_DOES_NOT_FIT = "AD301"
MEMORY_TIGHT = "AD302"
MEMORY_UNKNOWN_ARCHITECTURE = "AD303"
MEMORY_UNKNOWN_GPU = "AD304"
MEMORY_NO_PLACEMENT = "AD305"
MEMORY_TIGHT_FRACTION_DEPRECATED = "AD306"

# Tensor parallelism.
TP_HEADS = "AD310"
TP_KV_HEADS = "AD311"
TP_EXCEEDS_REPLICA = "AD312"
TP_NOT_DIVIDING_REPLICA = "AD313"

# Pool capacity.
POOL_CAPACITY = "AD320"

# Adapters.
ADAPTERS_LIMIT = "AD330"
ADAPTER_BASE_NOT_DEPLOYED = "AD331"
ADAPTER_POOLS_NOT_COVERED = "AD332"
ADAPTER_BASE_IS_ADAPTER = "AD333"

# Speculative decoding.
DRAFT_STEPS_RANGE = "AD340"
DRAFT_STEPS_WITHOUT_DRAFT = "AD341"
DRAFT_FAMILY_MISMATCH = "AD342"
DRAFT_UNKNOWN = "AD343"

# Timeouts.
TTFT_NOT_POSITIVE = "AD350"
TTFT_EXCEEDS_SERVER_TIMEOUT = "AD351"

# References.
UNKNOWN_POOL = "AD360"
UNKNOWN_MODEL = "AD361"
UNKNOWN_PRODUCER_JOB = "AD362"
UNKNOWN_JOB_PROJECT = "AD363"
UNKNOWN_ADAPTER_BASE = "AD364"
JOB_ARGS_INCONSISTENT = "AD365"
UNKNOWN_JOB_POOL = "AD366"
POOL_NOT_CHECKED = "AD367"

# Against live data.
LIVE_POOL_MISSING = "AD401"
LIVE_POOL_GPU = "AD402"
LIVE_POOL_GPUS_PER_REPLICA = "AD403"
LIVE_POOL_REPLICAS = "AD404"
LIVE_TP_UNSUPPORTED = "AD405"
LIVE_MODEL_MISSING = "AD406"
LIVE_ADAPTER_BACKBONE = "AD407"
LIVE_POOL_CAPABILITY = "AD408"

CODES: dict[str, str] = {
    MEMORY_DOES_NOT_FIT: "Deployment does not fit in GPU memory",
    MEMORY_TIGHT: "Deployment fits in GPU memory with less headroom than the memory model's measured error",
    MEMORY_UNKNOWN_ARCHITECTURE: "Memory fit not checked: unknown architecture",
    MEMORY_UNKNOWN_GPU: "Memory fit not checked: unknown GPU or pool",
    MEMORY_NO_PLACEMENT: "Memory fit not checked: deployment has no placement",
    MEMORY_TIGHT_FRACTION_DEPRECATED: "tight_fraction is deprecated: the tight band is the model's measured error",
    TP_HEADS: "tp does not divide the attention heads",
    TP_KV_HEADS: "tp and the KV heads do not split evenly",
    TP_EXCEEDS_REPLICA: "tp exceeds the pool's GPUs per replica",
    TP_NOT_DIVIDING_REPLICA: "tp does not divide the pool's GPUs per replica",
    POOL_CAPACITY: "Models placed on a pool need more GPUs than it has",
    ADAPTERS_LIMIT: "Too many adapters deployed on one base model",
    ADAPTER_BASE_NOT_DEPLOYED: "Adapter deployed without its base model in the project",
    ADAPTER_POOLS_NOT_COVERED: "Adapter placed on a pool its base model is not on",
    ADAPTER_BASE_IS_ADAPTER: "adapter_of names another adapter",
    DRAFT_STEPS_RANGE: "num_draft_steps outside 1..8",
    DRAFT_STEPS_WITHOUT_DRAFT: "num_draft_steps on a model without a draft",
    DRAFT_FAMILY_MISMATCH: "Draft and target use different tokenizer families",
    DRAFT_UNKNOWN: "Unknown draft architecture",
    TTFT_NOT_POSITIVE: "max_ttft_ms must be positive",
    TTFT_EXCEEDS_SERVER_TIMEOUT: "max_ttft_ms exceeds the server timeout",
    UNKNOWN_POOL: "Unknown compute pool",
    UNKNOWN_MODEL: "Unknown model",
    UNKNOWN_PRODUCER_JOB: "produced_by names an unknown job",
    UNKNOWN_JOB_PROJECT: "Job runs in an unknown project",
    UNKNOWN_ADAPTER_BASE: "adapter_of names an unknown model",
    JOB_ARGS_INCONSISTENT: "Job arguments disagree with the models they produce",
    UNKNOWN_JOB_POOL: "Job runs on an unknown compute pool",
    POOL_NOT_CHECKED: "Compute pool not checked: no compute_pools declared and no live data",
    LIVE_POOL_MISSING: "Compute pool not found on the platform",
    LIVE_POOL_GPU: "Compute pool has a different GPU type on the platform",
    LIVE_POOL_GPUS_PER_REPLICA: "Compute pool has a different GPUs-per-replica on the platform",
    LIVE_POOL_REPLICAS: "Compute pool has a different replica count on the platform",
    LIVE_TP_UNSUPPORTED: "tp not in the model's supportedTp",
    LIVE_MODEL_MISSING: "Model not found on the platform",
    LIVE_ADAPTER_BACKBONE: "adapter_of differs from the platform's backbone",
    LIVE_POOL_CAPABILITY: "Compute pool lacks the capability the placement needs",
}
