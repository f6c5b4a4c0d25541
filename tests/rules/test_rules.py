"""Every stage-2 rule: a passing and a failing case each, with located diagnostics."""

from __future__ import annotations

from typing import Any

from adaptive_deploy.config.models import Placement, Workspace
from adaptive_deploy.diagnostics import Severity
from adaptive_deploy.live import LiveDeployment, LiveState
from adaptive_deploy.rules import codes, validate_workspace
from adaptive_deploy.rules.adapters import check_adapters
from adaptive_deploy.rules.capacity import check_capacity, packs
from adaptive_deploy.rules.fit import check_memory_fit
from adaptive_deploy.rules.references import check_live, check_references
from adaptive_deploy.rules.speculative import check_speculative
from adaptive_deploy.rules.tensor_parallel import check_tensor_parallel
from adaptive_deploy.rules.timeouts import check_timeouts
from tests.rules.helpers import BASE, codes_of, fake_locate, run, workspace


def deployments(**by_project: dict[str, Any]) -> dict[str, Any]:
    return {p: {"deployments": deps} for p, deps in by_project.items()}


def on(*pools: str, **extra: Any) -> dict[str, Any]:
    return {"placement": {"compute_pools": list(pools)}, **extra}


def test_base_workspace_is_clean() -> None:
    assert validate_workspace(workspace(), fake_locate) == []


def test_diagnostics_are_located_through_the_context() -> None:
    ws = workspace(projects=deployments(support={"nope-model": on("pool-1")}))
    [d] = run(check_references, ws)
    assert d.code == codes.UNKNOWN_MODEL
    assert (d.file, d.line, d.column) == ("ws.yaml", 5, 3)
    assert d.path == ("projects", "support", "deployments", "nope-model")
    assert d.format().startswith("ws.yaml:5:3: error[AD361]: ")


# -- memory fit -----------------------------------------------------------------------------


def test_memory_fit_passes() -> None:
    assert run(check_memory_fit, workspace()) == []


def test_memory_fit_does_not_fit_reports_breakdown_and_max_len() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 600000}}}
    ws = workspace(models=models, projects=deployments(support={"qwen-3-8b": on("pool-1", "pool-2")}))
    diags = run(check_memory_fit, ws)
    assert codes_of(diags) == [codes.MEMORY_DOES_NOT_FIT]  # H100 fails, H200 fits
    d = diags[0]
    assert d.severity is Severity.ERROR
    assert d.path == ("projects", "support", "deployments", "qwen-3-8b", "placement", "compute_pools", 0)
    assert "pool-1 (H100-80GB, tp 1)" in d.message and "largest kv_cache_len that fits is" in d.message


def test_memory_fit_tight_is_a_warning() -> None:
    # usable 71.26 GiB; 15.26 weights + 7.14 calibrated overhead + 0.08 LoRA slot + 350k *
    # 144 KiB leaves 0.7 GiB, less than the model's measured error (1.8 GiB).
    models = {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 350000}}}
    ws = workspace(models=models, projects=deployments(support={"qwen-3-8b": on("pool-1")}))
    [d] = run(check_memory_fit, ws)
    assert (d.code, d.severity) == (codes.MEMORY_TIGHT, Severity.WARNING)
    assert "measured error of 1.8 GiB" in d.message


def test_tight_fraction_is_deprecated_but_still_works() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 100000}}}
    rules = {"memory": {"tight_fraction": 0.3}}
    ws = workspace(models=models, rules=rules,
                   projects=deployments(support={"qwen-3-8b": on("pool-1")}))
    diags = run(check_memory_fit, ws)
    assert codes_of(diags) == [codes.MEMORY_TIGHT, codes.MEMORY_TIGHT_FRACTION_DEPRECATED]
    deprecated = next(d for d in diags if d.code == codes.MEMORY_TIGHT_FRACTION_DEPRECATED)
    assert deprecated.severity is Severity.WARNING
    assert deprecated.path == ("rules", "memory", "tight_fraction")


def test_pool_memory_settings_override_rules() -> None:
    # 300k tokens fit an H100 with the calibrated overhead, not with 20 GiB of activation.
    models = {"qwen-3-8b": {"compute_config": {"tp": 1, "kv_cache_len": 300000}}}
    pools = {
        "pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 2},
        "pool-3": {"gpu": "H100-80GB", "gpus_per_replica": 8, "memory": {"activation_gib": 20}},
    }
    ws = workspace(models=models, compute_pools=pools,
                   projects=deployments(support={"qwen-3-8b": on("pool-1", "pool-3")}))
    [d] = run(check_memory_fit, ws)
    assert d.code == codes.MEMORY_DOES_NOT_FIT and "pool-3" in d.message


def test_fp8_kv_cache_dtype_doubles_what_fits() -> None:
    base = {"compute_config": {"tp": 1, "kv_cache_len": 500000}}
    projects = deployments(support={"qwen-3-8b": on("pool-1")})
    bf16 = run(check_memory_fit, workspace(models={"qwen-3-8b": base}, projects=projects))
    fp8 = run(check_memory_fit, workspace(
        models={"qwen-3-8b": {**base, "kv_cache_dtype": "fp8"}}, projects=projects))
    assert codes_of(bf16) == [codes.MEMORY_DOES_NOT_FIT]
    assert codes_of(fp8) == []


def test_memory_fit_unknown_architecture_is_never_a_silent_pass() -> None:
    models = {"qwen-3-8b_accelerated": {"compute_config": {"tp": 1}}}
    ws = workspace(models=models, projects=deployments(support={"qwen-3-8b_accelerated": on("pool-1")}))
    [d] = run(check_memory_fit, ws)
    assert (d.code, d.severity) == (codes.MEMORY_UNKNOWN_ARCHITECTURE, Severity.WARNING)
    assert "not checked" in d.message and "qwen3-8b" in d.message


def test_memory_fit_unknown_gpu_warns() -> None:
    pools = {"pool-1": {"gpu": "TPU-v5", "gpus_per_replica": 8, "replicas": 1}}
    ws = workspace(compute_pools=pools, projects=deployments(support={"qwen-3-8b": on("pool-1")}))
    [d] = run(check_memory_fit, ws)
    assert d.code == codes.MEMORY_UNKNOWN_GPU and "TPU-v5" in d.message


def test_memory_fit_counts_adapters_on_the_base_row() -> None:
    from adaptive_deploy.rules.memory import fit_report

    rows = fit_report(workspace())
    assert [(r.model, r.pool, r.adapters) for r in rows] == [("qwen-3-8b", "pool-1", 1)]
    assert rows[0].breakdown is not None and rows[0].breakdown.adapters > 0


# -- tensor parallelism ---------------------------------------------------------------------


def test_tensor_parallel_passes() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 8}}}
    assert run(check_tensor_parallel, workspace(models=models)) == []


def test_tensor_parallel_heads_and_kv_split() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 3}}}
    diags = run(check_tensor_parallel, workspace(models=models))
    assert codes_of(diags) == [codes.TP_HEADS, codes.TP_KV_HEADS, codes.TP_NOT_DIVIDING_REPLICA]
    assert all(d.path == ("models", "qwen-3-8b", "compute_config", "tp") for d in diags)


def test_tensor_parallel_exceeds_gpus_per_replica() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 16}}}
    pools = {"pool-1": {"gpu": "H100-80GB", "gpus_per_replica": 8, "replicas": 4}}
    diags = run(check_tensor_parallel, workspace(models=models, compute_pools=pools))
    assert codes.TP_EXCEEDS_REPLICA in codes_of(diags)


def test_tensor_parallel_checks_the_draft_shape() -> None:
    # qwen3-0.6b has 16 heads; tp 32 on the target (32 heads) is fine, not on the draft.
    models = {"big": {"architecture": "qwen3-8b", "draft": "qwen3-0.6b", "compute_config": {"tp": 32}}}
    diags = run(check_tensor_parallel, workspace(models=models, projects={}))
    assert any("draft" in d.message and d.code == codes.TP_HEADS for d in diags)


def test_tensor_parallel_supported_tp_from_live(live: LiveState) -> None:
    models = {"llama-3.1-70b": {"compute_config": {"tp": 1}}}
    ws = workspace(models=models, projects={})
    assert codes_of(run(check_tensor_parallel, ws, live)) == [codes.LIVE_TP_UNSUPPORTED]
    ok = workspace(models={"llama-3.1-70b": {"compute_config": {"tp": 4}}}, projects={})
    assert run(check_tensor_parallel, ok, live) == []


# -- pool capacity --------------------------------------------------------------------------


def test_capacity_passes() -> None:
    assert run(check_capacity, workspace()) == []


def test_capacity_exceeded_reports_replicas() -> None:
    models = {
        "llama-3.1-70b": {"compute_config": {"tp": 8}},
        "qwen-3-8b": {"compute_config": {"tp": 1}},
    }
    ws = workspace(models=models, projects=deployments(
        a={"llama-3.1-70b": on("pool-2")}, b={"qwen-3-8b": on("pool-2")}))
    [d] = run(check_capacity, ws)
    assert d.code == codes.POOL_CAPACITY and d.path == ("compute_pools", "pool-2")
    assert "needs 9 GPUs but it has 8" in d.message and "0 full set(s) fit" in d.message


def test_capacity_counts_a_model_once_across_projects() -> None:
    models = {"qwen-3-8b": {"compute_config": {"tp": 8}}}
    ws = workspace(models=models, projects=deployments(a={"qwen-3-8b": on("pool-2")}, b={"qwen-3-8b": on("pool-2")}))
    assert run(check_capacity, ws) == []


def test_capacity_includes_unmanaged_live_deployments(live: LiveState) -> None:
    live.deployments[("playground", "llama-3.1-70b")] = LiveDeployment(
        id="x", project="playground", model="llama-3.1-70b", compute_pools=["pool-2"])
    models = {"qwen-3-8b": {"compute_config": {"tp": 8}}}
    ws = workspace(models=models, projects=deployments(a={"qwen-3-8b": on("pool-2")}))
    [d] = run(check_capacity, ws, live)
    assert "llama-3.1-70b tp 4 (unmanaged)" in d.message


def test_capacity_packing_into_nodes() -> None:
    assert packs([4, 4, 8], 2, 8)
    assert not packs([6, 6, 4], 2, 8)


# -- adapters -------------------------------------------------------------------------------


def _adapters(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    models: dict[str, Any] = {"qwen-3-8b": {"compute_config": {"tp": 1}}}
    deps: dict[str, Any] = {"qwen-3-8b": on("pool-1")}
    for i in range(n):
        models[f"lora-{i}"] = {"adapter_of": "qwen-3-8b"}
        deps[f"lora-{i}"] = on("pool-1")
    return models, deps


def test_adapters_at_the_limit_pass() -> None:
    models, deps = _adapters(4)
    assert run(check_adapters, workspace(models=models, projects=deployments(s=deps))) == []


def test_adapters_over_the_limit() -> None:
    models, deps = _adapters(5)
    [d] = run(check_adapters, workspace(models=models, projects=deployments(s=deps)))
    assert d.code == codes.ADAPTERS_LIMIT and d.path == ("projects", "s", "deployments", "lora-4")
    raised = workspace(models=models, projects=deployments(s=deps), rules={"adapters_per_base_model": 5})
    assert run(check_adapters, raised) == []


def test_adapter_needs_its_base_in_the_project() -> None:
    ws = workspace(projects=deployments(support={"support-lora-v3": on("pool-1")}))
    [d] = run(check_adapters, ws)
    assert d.code == codes.ADAPTER_BASE_NOT_DEPLOYED


def test_adapter_pools_must_be_covered_by_the_base() -> None:
    ws = workspace(projects=deployments(support={
        "qwen-3-8b": on("pool-1"), "support-lora-v3": on("pool-1", "pool-2")}))
    [d] = run(check_adapters, ws)
    assert d.code == codes.ADAPTER_POOLS_NOT_COVERED
    assert d.path[-1] == 1 and "pool-2" in d.message


# -- speculative decoding -------------------------------------------------------------------


SPEC_MODELS = {
    "qwen-3-8b": {"compute_config": {"tp": 1}},
    "qwen-3-8b_accelerated": {"architecture": "qwen3-8b", "draft": "qwen3-0.6b",
                              "compute_config": {"tp": 2, "kv_cache_len": 100000}},
}


def test_speculative_passes() -> None:
    ws = workspace(models=SPEC_MODELS, projects=deployments(
        s={"qwen-3-8b_accelerated": on("pool-2", num_draft_steps=4)}))
    assert run(check_speculative, ws) == []
    assert validate_workspace(ws) == []


def test_draft_steps_out_of_range() -> None:
    ws = workspace(models=SPEC_MODELS, projects=deployments(
        s={"qwen-3-8b_accelerated": on("pool-2", num_draft_steps=9)}))
    [d] = run(check_speculative, ws)
    assert d.code == codes.DRAFT_STEPS_RANGE and d.path[-1] == "num_draft_steps"


def test_draft_steps_without_draft() -> None:
    ws = workspace(projects=deployments(s={"qwen-3-8b": on("pool-1", num_draft_steps=4)}))
    assert codes_of(run(check_speculative, ws)) == [codes.DRAFT_STEPS_WITHOUT_DRAFT]


def test_draft_family_mismatch() -> None:
    models = {"qwen-3-8b": {"draft": "llama-3.2-1b"}}
    [d] = run(check_speculative, workspace(models=models, projects={}))
    assert d.code == codes.DRAFT_FAMILY_MISMATCH and d.path == ("models", "qwen-3-8b", "draft")


def test_draft_from_the_producing_job_counts_as_a_draft() -> None:
    models = {"qwen-3-8b": {}, "qwen-3-8b_accelerated": {"architecture": "qwen3-8b", "produced_by": "train"}}
    jobs = {"train": {"recipe": "specdec_alignment", "project": "s",
                      "args": {"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m"}}}
    ws = workspace(models=models, jobs=jobs, projects=deployments(
        s={"qwen-3-8b_accelerated": on("pool-2", num_draft_steps=3)}))
    assert validate_workspace(ws) == []


def test_job_draft_family_mismatch() -> None:
    jobs = {"train": {"recipe": "specdec_alignment", "project": "support",
                      "args": {"target_model": "qwen-3-8b", "draft_model": "llama-3.2-1b"}}}
    diags = run(check_speculative, workspace(jobs=jobs))
    assert codes_of(diags) == [codes.DRAFT_FAMILY_MISMATCH]


# -- timeouts -------------------------------------------------------------------------------


def test_timeouts_pass() -> None:
    ws = workspace(projects=deployments(s={"qwen-3-8b": on("pool-1", )} ))
    assert run(check_timeouts, ws) == []
    ok = workspace(projects=deployments(s={"qwen-3-8b": {"placement": {"compute_pools": ["pool-1"], "max_ttft_ms": 60000}}}))
    assert run(check_timeouts, ok) == []


def test_ttft_above_server_timeout_warns() -> None:
    ws = workspace(
        platform={"server_timeout_s": 30},
        projects=deployments(s={"qwen-3-8b": {"placement": {"compute_pools": ["pool-1"], "max_ttft_ms": 45000}}}),
    )
    [d] = run(check_timeouts, ws)
    assert (d.code, d.severity) == (codes.TTFT_EXCEEDS_SERVER_TIMEOUT, Severity.WARNING)


def test_ttft_not_positive() -> None:
    # The schema rejects it first; the rule still guards Workspaces built without validation.
    ws = workspace(projects=deployments(s={"qwen-3-8b": on("pool-1")}))
    dep = ws.projects["s"].deployments["qwen-3-8b"]
    bad = dep.model_copy(update={"placement": Placement.model_construct(compute_pools=["pool-1"], max_ttft_ms=0)})
    project = ws.projects["s"].model_copy(update={"deployments": {"qwen-3-8b": bad}})
    ws2 = ws.model_copy(update={"projects": {"s": project}})
    assert codes_of(run(check_timeouts, ws2)) == [codes.TTFT_NOT_POSITIVE]


# -- references -----------------------------------------------------------------------------


def test_references_pass() -> None:
    assert run(check_references, workspace()) == []


def test_unknown_pool_with_suggestion() -> None:
    ws = workspace(projects=deployments(support={"qwen-3-8b": on("pool-3")}))
    [d] = run(check_references, ws)
    assert d.code == codes.UNKNOWN_POOL and "did you mean" in d.message


def test_unknown_model_offline_but_known_live(live: LiveState) -> None:
    ws = workspace(projects=deployments(support={"qwen-3-8b": on("pool-1"), "mistral-7b-v0.3": on("pool-1")}))
    assert codes_of(run(check_references, ws)) == [codes.UNKNOWN_MODEL]
    assert run(check_references, ws, live) == []


def test_unknown_job_project_producer_and_adapter_base() -> None:
    models = {"qwen-3-8b": {}, "x": {"adapter_of": "nope"}, "qwen-3-8b_accelerated": {"produced_by": "missing"}}
    jobs = {"j": {"recipe": "other", "project": "ghost", "compute_pool": "pool-9"}}
    diags = run(check_references, workspace(models=models, jobs=jobs, projects={}))
    assert codes_of(diags) == sorted([codes.UNKNOWN_ADAPTER_BASE, codes.UNKNOWN_PRODUCER_JOB,
                                      codes.UNKNOWN_JOB_PROJECT, codes.UNKNOWN_JOB_POOL])


def test_specdec_job_args_must_match_the_produced_model() -> None:
    models = {"qwen-3-8b": {}, "llama-3.1-8b_accelerated": {"architecture": "llama-3.1-8b",
                                                           "draft": "qwen3-1.7b", "produced_by": "train"}}
    jobs = {"train": {"recipe": "specdec_alignment", "project": "support",
                      "args": {"target_model": "qwen-3-8b", "draft_model": "qwen-3-500m"}}}
    jobs["train"]["project"] = "s"
    diags = run(check_references, workspace(models=models, jobs=jobs, projects={"s": {}}))
    assert codes_of(diags) == [codes.JOB_ARGS_INCONSISTENT] * 3


# -- against live ---------------------------------------------------------------------------


def test_live_expectations_pass(live: LiveState) -> None:
    assert run(check_live, workspace(), live) == []


def test_live_pool_disagreements(live: LiveState) -> None:
    pools = {
        "pool-1": {"gpu": "A100-80GB", "gpus_per_replica": 4, "replicas": 3},
        "pool-9": {"gpu": "H100-80GB"},
    }
    diags = run(check_live, workspace(compute_pools=pools, projects={}), live)
    assert codes_of(diags) == [codes.LIVE_POOL_MISSING, codes.LIVE_POOL_GPU,
                               codes.LIVE_POOL_GPUS_PER_REPLICA, codes.LIVE_POOL_REPLICAS]
    severities = {d.code: d.severity for d in diags}
    assert severities[codes.LIVE_POOL_REPLICAS] is Severity.WARNING


def test_live_model_missing_unless_produced(live: LiveState) -> None:
    models = {"qwen-3-8b": {}, "ghost-model": {}, "qwen-3-8b_accelerated": {"produced_by": "j"}}
    diags = run(check_live, workspace(models=models, projects={}), live)
    assert [d.path for d in diags] == [("models", "ghost-model")]


def test_live_adapter_backbone_and_capability(live: LiveState) -> None:
    models = {"qwen-3-8b": {}, "code-lora-v1": {"adapter_of": "qwen-3-8b"}}
    jobs = {"j": {"recipe": "r", "project": "support", "compute_pool": "pool-a100"}}
    ws = workspace(models=models, jobs=jobs, projects=deployments(support={"qwen-3-8b": on("pool-1")}))
    assert codes_of(run(check_live, ws, live)) == [codes.LIVE_ADAPTER_BACKBONE, codes.LIVE_POOL_CAPABILITY]


def test_live_pools_fill_in_when_config_has_none(live: LiveState) -> None:
    from adaptive_deploy.rules.memory import fit_report

    ws = Workspace.model_validate({**BASE, "compute_pools": {}})
    # Offline with no pool expectations: not checkable, so a warning, not an error.
    assert codes_of(run(check_references, ws)) == [codes.POOL_NOT_CHECKED, codes.POOL_NOT_CHECKED]
    assert run(check_references, ws, live) == []
    [row] = fit_report(ws, live)
    assert (row.gpu, row.verdict) == ("H100-80GB", "fits")


def test_unknown_pool_is_an_error_once_pools_are_declared_or_live(live: LiveState) -> None:
    declared = Workspace.model_validate({**BASE, "compute_pools": {"pool-2": {"gpu": "H200-141GB"}}})
    assert codes_of(run(check_references, declared)) == [codes.UNKNOWN_POOL, codes.UNKNOWN_POOL]
    placed = {"qwen-3-8b": {"placement": {"compute_pools": ["pool-9"]}}}
    bare = Workspace.model_validate(
        {**BASE, "compute_pools": {}, "projects": {"support": {"deployments": placed}}}
    )
    assert codes_of(run(check_references, bare, live)) == [codes.UNKNOWN_POOL]


def test_seed_example_configs_validate_against_live(live: LiveState) -> None:
    # A config that deploys unmanaged-looking but managed models must see live supportedTp.
    models = {"llama-3.1-70b": {"compute_config": {"tp": 4, "kv_cache_len": 131072}}}
    ws = workspace(models=models, projects=deployments(e={"llama-3.1-70b": on("pool-1", "pool-2")}))
    assert validate_workspace(ws, fake_locate, live) == []
