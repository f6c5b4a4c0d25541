"""removeModelFromProject deletes a model with its last project binding (SDK docstring), and the
emulator does so: the tool never deletes a model as a side effect. Over HTTP against
`emulator serve`, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.helpers import remote_env, run_cli, small_workspace, write_workspace
from tests.fixtures.emulator import EmulatorServer

SPECULATIVE = Path(__file__).resolve().parents[2] / "examples" / "speculative"
ACCEL = "qwen-3-8b_accelerated"
ACCEL_DEP = f"deployment.assistant/{ACCEL}"
MODEL = "query($k: IdOrKey!) { model(idOrKey: $k) { key } }"
SERVICES = "query($k: IdOrKey!) { project(idOrKey: $k) { modelServices { id key status } } }"


def _services(emulator: EmulatorServer, project: str) -> dict[str, dict[str, Any]]:
    data = emulator.data(SERVICES, {"k": project})["project"]["modelServices"]
    return {s["key"]: s for s in data}


def _speculative(tmp_path: Path) -> Path:
    ws = tmp_path / "speculative"
    shutil.copytree(SPECULATIVE, ws, ignore=shutil.ignore_patterns(".adaptive-deploy"))
    return ws


def test_replace_keeps_the_model_and_removing_its_last_deployment_deletes_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = remote_env(emulator)
    ws = _speculative(tmp_path)
    first = run_cli("apply", str(ws), "--auto-approve", env=env, timeout=300)
    assert first.code == 0, first.text
    assert emulator.data(MODEL, {"k": ACCEL})["model"] is not None, "produced by the job"
    service_id = _services(emulator, "assistant")[ACCEL]["id"]

    # --replace restarts the deployment in place: same model service, the model is kept.
    replaced = run_cli("apply", str(ws), "--auto-approve", "--replace", ACCEL_DEP, env=env)
    assert replaced.code == 0, replaced.text
    assert f"~ {ACCEL_DEP}  (restart in place)" in replaced.out
    assert "status TURNED_OFF" in replaced.out and "status ONLINE" in replaced.out
    assert "Resources: 0 added, 1 changed, 0 destroyed." in replaced.out
    assert emulator.data(MODEL, {"k": ACCEL})["model"] is not None
    service = _services(emulator, "assistant")[ACCEL]
    assert (service["id"], service["status"]) == (service_id, "ONLINE")
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0

    # Removing its only deployment removes the model's last binding: the plan says so.
    config = yaml.safe_load((ws / "adaptive-deploy.yaml").read_text())
    del config["projects"]["assistant"]["deployments"][ACCEL]
    del config["models"][ACCEL]
    write_workspace(ws, config)
    doc = json.loads(run_cli("plan", str(ws), "--format", "json", env=env).out)
    change = next(c for c in doc["changes"] if c["address"] == ACCEL_DEP)
    assert (change["action"], change["deletes_model"]) == ("delete", ACCEL)
    assert doc["deleted_models"] == [ACCEL] and doc["applyable"]
    text = run_cli("plan", str(ws), env=env).out
    assert f"      ! deletes model {ACCEL} from storage (its last project binding)" in text
    md = run_cli("plan", str(ws), "--format", "markdown", env=env).out
    assert f"**deletes model `{ACCEL}`**" in md

    refused = run_cli("apply", str(ws), "--auto-approve", env=env)
    assert refused.code == 1
    assert "--allow-destroy" in refused.err and f"model(s) {ACCEL}" in refused.err
    assert emulator.data(MODEL, {"k": ACCEL})["model"] is not None

    done = run_cli("apply", str(ws), "--auto-approve", "--allow-destroy", env=env)
    assert done.code == 0, done.text
    assert emulator.data(MODEL, {"k": ACCEL})["model"] is None, "deleted with its last binding"
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0


def test_deleting_the_last_binding_of_an_unmanaged_model_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = remote_env(emulator)
    # The adapter is deployed but not declared under `models`: this workspace binds it to a
    # project without managing the model itself.
    config = small_workspace("keep")
    del config["models"]["support-lora-v3"]
    ws = write_workspace(tmp_path / "ws", config)
    applied = run_cli("apply", str(ws), "--auto-approve", env=env)
    assert applied.code == 0, applied.text
    del config["projects"]["keep-support"]["deployments"]["support-lora-v3"]
    write_workspace(ws, config)
    plan = run_cli("plan", str(ws), env=env)
    assert plan.code == 1                      # a plan that cannot be applied
    assert "error[AD508]" in plan.out and "model.support-lora-v3 is not managed" in plan.out
    refused = run_cli("apply", str(ws), "--auto-approve", "--allow-destroy", env=env)
    assert refused.code == 1 and "cannot be applied" in refused.err
    assert "support-lora-v3" in _services(emulator, "keep-support")


def test_a_declared_adapter_is_managed_and_goes_with_its_last_binding(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Declared under `models`, the adapter is this workspace's (adopted into state on the
    # first apply): removing its only deployment and its entry deletes it, with --allow-destroy.
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("own"))
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    assert "model.support-lora-v3" in run_cli("state", "list", str(ws), env=env).out
    config = small_workspace("own")
    del config["projects"]["own-support"]["deployments"]["support-lora-v3"]
    del config["models"]["support-lora-v3"]
    write_workspace(ws, config)
    doc = json.loads(run_cli("plan", str(ws), "--format", "json", env=env).out)
    assert doc["applyable"] and doc["deleted_models"] == ["support-lora-v3"]
    assert {c["address"]: c["action"] for c in doc["changes"] if c["action"] != "no-op"} == {
        "deployment.own-support/support-lora-v3": "delete", "model.support-lora-v3": "forget"}
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 1   # needs the flag
    applied = run_cli("apply", str(ws), "--auto-approve", "--allow-destroy", env=env)
    assert applied.code == 0, applied.text
    # Unbound; the seeded adapter is published organisation-wide, so the platform keeps it
    # (no field shows that, so the plan had to warn).
    assert "support-lora-v3" not in _services(emulator, "own-support")
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0


def test_deployment_in_error_is_restarted_in_place(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    env = remote_env(emulator)
    ws = write_workspace(tmp_path / "ws", small_workspace("err"))
    assert run_cli("apply", str(ws), "--auto-approve", env=env).code == 0
    before = _services(emulator, "err-support")["qwen-3-8b"]["id"]
    # Out of band: a KV cache that cannot fit puts the deployment in ERROR.
    emulator.data("""mutation { updateModelComputeConfig(idOrKey: "qwen-3-8b",
        input: {kvCacheLen: 5000000}) { key } }""")
    plan = run_cli("plan", str(ws), env=env)
    assert "~ deployment.err-support/qwen-3-8b  (restart in place)" in plan.out
    assert "the platform reports ERROR (insufficient memory" in plan.out
    applied = run_cli("apply", str(ws), "--auto-approve", env=env)
    assert applied.code == 0, applied.text
    after = _services(emulator, "err-support")["qwen-3-8b"]
    assert (after["id"], after["status"]) == (before, "ONLINE")
    assert emulator.data(MODEL, {"k": "qwen-3-8b"})["model"] is not None
    assert run_cli("plan", str(ws), "--detailed-exitcode", env=env).code == 0
