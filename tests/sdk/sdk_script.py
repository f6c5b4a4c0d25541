"""Runs INSIDE the separate SDK virtualenv (adaptive-sdk==0.14.2), against a live emulator.

Usage: python sdk_script.py BASE_URL API_KEY. Prints one JSON object of observations; the
pytest side (test_sdk_compat.py) asserts on it. Exits non-zero on any SDK exception.
"""

import json
import sys
import time

from adaptive_sdk import Adaptive


def main() -> None:
    base_url, api_key = sys.argv[1], sys.argv[2]
    client = Adaptive(base_url=base_url, api_key=api_key)
    out = {}

    models = client.models.list()
    out["model_keys"] = sorted(m.key for m in models)
    adapter = client.models.get("support-lora-v3")
    out["adapter"] = {"key": adapter.key, "is_adapter": adapter.is_adapter,
                      "backbone": adapter.backbone.key if adapter.backbone else None}
    out["missing_model"] = client.models.get("no-such-model")

    updated = client.models.update_compute_config(
        model="qwen-3-8b", compute_config={"kvCacheLen": 120000, "tp": 2})
    out["compute_config"] = updated.compute_config.model_dump(by_alias=True)

    pools = client.compute_pools.list()
    out["pools"] = {p.key: {"capabilities": [c.value if hasattr(c, "value") else c
                                             for c in p.capabilities],
                            "groups": len(p.harmony_groups),
                            "gpu": p.harmony_groups[0].gpu_types} for p in pools}

    project = client.projects.create(key="sdk-project", name="SDK project",
                                     description="made by the SDK")
    out["project_created"] = {"key": project.key, "name": project.name,
                              "description": project.description}
    out["project_keys"] = sorted(p.key for p in client.projects.list())

    attached = client.models.attach(
        model="qwen-3-8b", project="sdk-project",
        placement={"computePools": ["pool-1", "pool-2"], "maxTtftMs": 30000}, num_draft_steps=4)
    out["attached"] = {"key": attached.key, "desired_online": attached.desired_online}
    deployed = client.models.deploy(model="support-lora-v3", project="sdk-project",
                                    placement={"computePools": ["pool-1"]})
    out["deployed"] = deployed.key
    updated_service = client.models.update(model="qwen-3-8b", project="sdk-project",
                                           is_default=True, num_draft_steps=6)
    out["updated_default"] = updated_service.is_default
    got = client.projects.get("sdk-project")
    out["services"] = sorted(s.key for s in got.model_services)
    out["detached"] = client.models.detach(model="support-lora-v3", project="sdk-project")
    out["services_after_detach"] = sorted(
        s.key for s in client.projects.get("sdk-project").model_services)
    out["terminated"] = client.models.terminate(model="qwen-3-8b")

    try:
        client.models.deploy(model="ghost-model", project="sdk-project")
        out["deploy_missing_error"] = None
    except Exception as exc:  # the SDK raises its own error type; the message is what counts
        out["deploy_missing_error"] = str(exc)

    job = client.jobs.run(
        recipe_key="specdec_alignment", num_gpus=2, project="sdk-project", name="sdk-draft",
        args={"target_model": "llama-3.1-8b", "draft_model": "llama-3.2-1b", "dataset": "x"})
    out["job_created"] = {"name": job.name, "status": job.status.value}
    deadline = time.monotonic() + 20
    while True:
        current = client.jobs.get(job.id)
        if current.status.value in ("COMPLETED", "FAILED", "CANCELED") or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out["job_final"] = {"status": current.status.value, "progress": current.progress,
                        "artifacts": [{"kind": a.kind.value, "name": a.name,
                                       "metadata": a.metadata,
                                       "byproducts": a.byproducts.typename__
                                       if a.byproducts else None}
                                      for a in current.artifacts]}
    # jobs.list() itself fails inside the SDK 0.14.2 (it assigns JobDataPlus objects to a
    # validate_assignment pydantic model), so call its generated ListJobs operation directly.
    from adaptive_sdk.graphql_client.input_types import CursorPageInput, ListJobsFilterInput

    listed = client._gql_client.list_jobs(
        page=CursorPageInput(first=100), filter=ListJobsFilterInput(project="sdk-project")).jobs
    out["jobs_listed"] = [j.name for j in listed.nodes]
    accelerated = client.models.get("llama-3.1-8b_accelerated")
    out["accelerated"] = accelerated.key if accelerated else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
