"""End to end over real HTTP against `adaptive-deploy emulator serve`: apply, converge, drift,
saved plans, protect, read-only keys."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.helpers import remote_env, run_cli, small_workspace, write_workspace
from tests.fixtures.emulator import EmulatorServer

SET_KV = """mutation($m: IdOrKey!, $input: ModelComputeConfigInput!) {
  updateModelComputeConfig(idOrKey: $m, input: $input) { key }
}"""


def _apply(ws: Path, env: dict[str, str], *extra: str) -> str:
    result = run_cli("apply", str(ws), "--auto-approve", *extra, env=env)
    assert result.code == 0, result.text
    if "--refresh-only" in extra:
        # It says what it did: state records updated, nothing changed on the platform.
        assert "Refresh complete! 1 state record updated to match the platform; nothing " \
            "was changed on the platform." in result.out, result.out
    else:
        assert "Apply complete! Resources:" in result.out
    return result.out


def test_apply_then_plan_has_no_changes(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("conv"))
    first = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
    assert first.code == 2, first.text
    assert "Plan: 3 to add, 1 to change, 0 to destroy." in first.out
    _apply(ws, env)
    again = run_cli("plan", str(ws), "--detailed-exitcode", env=env)
    assert again.code == 0, again.text
    assert "No changes. The platform matches the configuration." in again.out
    # The embedded-platform notice is not shown for a remote platform.
    assert "embedded" not in again.err


def test_out_of_band_change_is_drift(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("drift"))
    _apply(ws, env)
    emulator.data(SET_KV, {"m": "qwen-3-8b", "input": {"kvCacheLen": 100000}})
    plan = run_cli("plan", str(ws), "--detailed-exitcode", "--format", "json", env=env)
    assert plan.code == 2, plan.text
    doc = json.loads(plan.out)
    drift = [d for d in doc["drift"] if d["address"] == "model.qwen-3-8b"]
    assert drift and drift[0]["path"] == "kv_cache_len"
    assert (drift[0]["before"], drift[0]["after"]) == (200000, 100000)
    change = next(c for c in doc["changes"] if c["address"] == "model.qwen-3-8b")
    assert change["action"] == "update"
    assert change["diff"][0]["cause"] == "drift"
    text = run_cli("plan", str(ws), env=env).out
    assert text.index("Changed outside adaptive-deploy") < text.index("Plan:")
    _apply(ws, env)
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0


def test_saved_plan_is_refused_when_stale(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("stale"))
    _apply(ws, env)
    write_workspace(ws, small_workspace("stale", kv_cache_len=250000))
    planfile = tmp_path / "change.plan"
    assert run_cli("plan", str(ws), "--out", str(planfile), env=env).code == 0
    emulator.data(SET_KV, {"m": "qwen-3-8b", "input": {"kvCacheLen": 120000}})
    result = run_cli("apply", str(planfile), env=env)
    assert result.code == 1
    assert "Saved plan is stale" in result.err
    assert "model.qwen-3-8b" in result.err
    # A fresh plan applies fine.
    assert run_cli("plan", str(ws), "--out", str(planfile), env=env).code == 0
    applied = run_cli("apply", str(planfile), env=env)
    assert applied.code == 0, applied.text
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0


def test_saved_plan_is_stale_after_config_change(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("stalecfg"))
    planfile = tmp_path / "p.plan"
    assert run_cli("plan", str(ws), "--out", str(planfile), env=env).code == 0
    write_workspace(ws, small_workspace("stalecfg", kv_cache_len=150000))
    result = run_cli("apply", str(planfile), env=env)
    assert result.code == 1 and "Saved plan is stale" in result.err
    assert "configuration changed" in result.err


def test_protected_deployment_cannot_be_destroyed(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("prot", protect=True))
    _apply(ws, env)
    config = small_workspace("prot", protect=True)
    del config["projects"]["prot-support"]["deployments"]["support-lora-v3"]
    del config["projects"]["prot-support"]["deployments"]["qwen-3-8b"]
    write_workspace(ws, config)
    plan = run_cli("plan", str(ws), env=env)
    assert "AD501" in plan.text
    result = run_cli("apply", str(ws), "--auto-approve", "--allow-destroy", env=env)
    assert result.code == 1
    live = emulator.data('{ project(idOrKey: "prot-support") { modelServices { key } } }')
    keys = {s["key"] for s in live["project"]["modelServices"]}
    assert "qwen-3-8b" in keys


def test_destroy_needs_allow_destroy(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("dest"))
    _apply(ws, env)
    config = small_workspace("dest")
    del config["projects"]["dest-support"]["deployments"]["support-lora-v3"]
    del config["models"]["support-lora-v3"]
    write_workspace(ws, config)
    # The adapter is bound to another project too, so removing this deployment does not
    # remove its last binding (which would delete it: tests/e2e/test_model_deletion.py).
    emulator.data('mutation { addModelsToProject(input: {project: "playground", '
                  'models: ["support-lora-v3"]}) { success } }')
    refused = run_cli("apply", str(ws), "--auto-approve", env=env)
    assert refused.code == 1 and "--allow-destroy" in refused.err
    done = run_cli("apply", str(ws), "--auto-approve", "--allow-destroy", env=env)
    assert done.code == 0, done.text
    assert "1 destroyed" in done.out
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0


def test_read_only_key_plans_but_cannot_apply(emulator: EmulatorServer, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", small_workspace("ro"))
    env = remote_env(emulator, emulator.readonly_key)
    plan = run_cli("plan", str(ws), env=env)
    assert plan.code == 0, plan.text
    result = run_cli("apply", str(ws), "--auto-approve", env=env)
    assert result.code == 1
    # The platform's refusal decides, and stops the apply at once, naming the key's variable.
    assert "the key in $ADAPTIVE_API_KEY may not change the platform" in result.err
    assert "missing permission" in result.err, "the platform's reason is kept"
    assert emulator.readonly_key not in result.text
    live = emulator.data("{ projects { key } }")
    assert "ro-support" not in {p["key"] for p in live["projects"]}


def test_bad_key_names_the_env_var(emulator: EmulatorServer, tmp_path: Path) -> None:
    ws = write_workspace(tmp_path / "ws", small_workspace("bad"))
    secret = "not-a-valid-key-SECRET-1234567890"
    result = run_cli("plan", str(ws), env=remote_env(emulator, secret))
    assert result.code == 1
    assert "ADAPTIVE_API_KEY" in result.err
    assert secret not in result.text


def test_api_key_never_in_output_state_or_plan(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("secret"))
    planfile = tmp_path / "p.plan"
    outputs = [
        run_cli("plan", str(ws), "--out", str(planfile), env=env),
        run_cli("apply", str(planfile), env=env),
        run_cli("plan", str(ws), "--format", "json", env=env),
        run_cli("state", "list", str(ws), env=env),
    ]
    blobs = [o.text for o in outputs] + [planfile.read_text()]
    blobs += [p.read_bytes().decode("latin-1") for p in (ws / ".adaptive-deploy").glob("*")
              if p.is_file()]
    for blob in blobs:
        assert emulator.admin_key not in blob


def test_refresh_only_accepts_live_values_into_state(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("refresh"))
    _apply(ws, env)
    emulator.data(SET_KV, {"m": "qwen-3-8b", "input": {"kvCacheLen": 100000}})
    refresh_plan = run_cli("plan", str(ws), "--refresh-only", "--detailed-exitcode", env=env)
    assert refresh_plan.code == 2, refresh_plan.text
    assert "Changed outside adaptive-deploy" in refresh_plan.out
    _apply(ws, env, "--refresh-only")
    # State now holds the live value: the refresh-only plan is clean, and the normal plan
    # shows the configuration's value as a change of cause `config`, not drift.
    assert run_cli("plan", str(ws), "--refresh-only", "--detailed-exitcode", env=env).code == 0
    doc = json.loads(run_cli("plan", str(ws), "--format", "json", env=env).out)
    assert doc["drift"] == []
    change = next(c for c in doc["changes"] if c["address"] == "model.qwen-3-8b")
    assert [(d["before"], d["after"], d["cause"]) for d in change["diff"]] == [(100000, 200000, "config")]


def test_who_may_apply_is_the_platforms_answer(emulator: EmulatorServer, tmp_path: Path) -> None:
    """The admin key's user belongs to several teams, the first with a read-only role (as the
    emulator models it): apply must not infer the caller's rights from a team's role key."""
    me = emulator.data("{ me { teams { role { key } } } }")["me"]
    assert me["teams"][0]["role"]["key"] == "read-only"
    ws = write_workspace(tmp_path / "ws", small_workspace("teams"))
    result = run_cli("apply", str(ws), "--auto-approve", env=remote_env(emulator))
    assert result.code == 0, result.text


PLACEMENT = """query($k: IdOrKey!) { project(idOrKey: $k) { modelServices { key
  placement { computePools maxTtftMs } } } }"""


def _placement(emulator: EmulatorServer, project: str, model: str) -> dict[str, object]:
    services = emulator.data(PLACEMENT, {"k": project})["project"]["modelServices"]
    placement: dict[str, object] = next(s["placement"] for s in services if s["key"] == model)
    return placement


def test_changing_pools_keeps_max_ttft_ms(emulator: EmulatorServer, tmp_path: Path) -> None:
    """The platform replaces a placement whole: changing the pools must send max_ttft_ms too,
    or apply drops it and the next plan and drift report a difference."""
    env = remote_env(emulator)
    config = small_workspace("pools")
    ws = write_workspace(tmp_path / "ws", config)
    _apply(ws, env)
    base = config["projects"]["pools-support"]["deployments"]["qwen-3-8b"]
    base["placement"]["compute_pools"] = ["pool-1", "pool-2"]
    write_workspace(ws, config)
    _apply(ws, env)
    assert _placement(emulator, "pools-support", "qwen-3-8b") == {
        "computePools": ["pool-1", "pool-2"], "maxTtftMs": 30000}
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0
    assert run_cli("drift", str(ws), env=env).code == 0
    # Left out of the configuration, max_ttft_ms is unmanaged: the live value stays.
    del base["placement"]["max_ttft_ms"]
    base["placement"]["compute_pools"] = ["pool-1"]
    write_workspace(ws, config)
    _apply(ws, env)
    assert _placement(emulator, "pools-support", "qwen-3-8b") == {
        "computePools": ["pool-1"], "maxTtftMs": 30000}
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0
    assert run_cli("drift", str(ws), env=env).code == 0
