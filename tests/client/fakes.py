"""A small in-memory GraphQL platform for client unit tests, plugged in via httpx.MockTransport.

It answers the client's own operations by name (not a GraphQL engine: the real emulator covers
that in the end-to-end tests) and can fail on purpose: `drop_after_commit[op] = n` makes the
next n calls of `op` apply their change and then lose the response (timeout or 502), exactly
the unknown-outcome case; `fail_before_commit[op] = n` loses the request before applying it.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import httpx


class FakePlatform:
    def __init__(self) -> None:
        self.pools: list[dict[str, Any]] = [
            {"id": "pool-id-1", "key": "pool-1", "name": "Pool 1", "capabilities": ["INFERENCE", "JOB"],
             "harmonyGroups": [
                 {"key": "g1", "status": "ONLINE", "worldSize": 8, "gpuTotal": 8, "gpuAllocated": 1,
                  "gpuTypes": "NVIDIA H100 80GB HBM3", "onlineModels": [{"key": "qwen-3-8b"}]},
                 {"key": "g2", "status": "ONLINE", "worldSize": 8, "gpuTotal": 8, "gpuAllocated": 0,
                  "gpuTypes": "NVIDIA H100 80GB HBM3", "onlineModels": []}]},
            {"id": "pool-id-2", "key": "pool-2", "name": "Pool 2", "capabilities": ["INFERENCE"],
             "harmonyGroups": []},
        ]
        self.models: dict[str, dict[str, Any]] = {
            "qwen-3-8b": {"id": "m1", "key": "qwen-3-8b", "name": "Qwen 3 8B", "online": "ONLINE",
                          "isAdapter": False, "family": "qwen3", "size": 8_000_000_000,
                          "supportedTp": [1, 2, 4, 8], "isSpecDecDraft": False,
                          "computeConfig": {"tp": 1, "kvCacheLen": 65536, "maxSeqLen": 32768},
                          "backbone": None, "someNewField": 1},
            "support-lora-v3": {"id": "m2", "key": "support-lora-v3", "name": "LoRA",
                                "isAdapter": True, "backbone": {"key": "qwen-3-8b"},
                                "supportedTp": [], "computeConfig": None},
        }
        self.projects: dict[str, dict[str, Any]] = {}
        self.services: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()      # requests received, by operation
        self.commits: Counter[str] = Counter()    # changes applied, by operation
        self.drop_after_commit: Counter[str] = Counter()
        self.fail_before_commit: Counter[str] = Counter()
        self.drop_with = "timeout"                # or "502"
        self.bodies: list[dict[str, Any]] = []    # every request the client sent
        self.deploy_warnings: list[str] = []
        self.clock = 1000

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- HTTP -------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        op = body["operationName"]
        self.calls[op] += 1
        if self.fail_before_commit[op] > 0:
            self.fail_before_commit[op] -= 1
            raise httpx.ReadTimeout("lost before commit", request=request)
        try:
            data = getattr(self, f"op_{op}")(body["variables"])
        except LookupError as exc:
            return httpx.Response(200, json={"data": None, "errors": [{"message": str(exc.args[0])}]})
        if self.drop_after_commit[op] > 0:
            self.drop_after_commit[op] -= 1
            if self.drop_with == "502":
                return httpx.Response(502)
            raise httpx.ReadTimeout("response lost after commit", request=request)
        return httpx.Response(200, json={"data": data})

    # -- helpers ----------------------------------------------------------------------------

    def _project(self, key: str) -> dict[str, Any]:
        if key not in self.projects:
            raise LookupError(f"EntityNotFound: project {key}")
        return self.projects[key]

    def _service_out(self, svc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in svc.items() if k != "numDraftSteps"}

    def add_project(self, key: str, name: str = "") -> dict[str, Any]:
        proj = {"id": str(uuid.uuid4()), "key": key, "name": name or key, "description": "",
                "isArchived": False}
        self.projects[key] = proj
        return proj

    def add_service(self, project: str, model: str, pools: list[str] | None = None) -> dict[str, Any]:
        # The service's own key is deliberately not the model's: nothing proves they are equal,
        # and the client reads the model from `model { key }`.
        svc = {"id": str(uuid.uuid4()), "key": f"svc-{model}",
               "status": "ONLINE" if pools else "OFFLINE",
               "error": None, "isDefault": False, "desiredOnline": True, "deleted": False,
               "placement": {"computePools": pools, "maxTtftMs": None} if pools else None,
               "model": {"key": model}}
        self.services[(project, model)] = svc
        return svc

    # -- operations ---------------------------------------------------------------------------

    def op_ReadLive(self, v: dict[str, Any]) -> dict[str, Any]:
        projects = []
        for p in self.projects.values():
            services = [self._service_out(s) for (pk, _), s in self.services.items() if pk == p["key"]]
            projects.append({**p, "modelServices": services})
        return {"models": list(self.models.values()), "computePools": self.pools,
                "projects": projects, "jobs": self._page(v["jobsPage"], None)}

    def _page(self, page: dict[str, Any], flt: dict[str, Any] | None) -> dict[str, Any]:
        jobs = sorted(self.jobs, key=lambda j: -j["createdAt"])
        if flt and flt.get("name"):
            jobs = [j for j in jobs if j["name"] == flt["name"]]
        start = int(page.get("after") or 0)
        first = page.get("first") or 100
        chunk = jobs[start:start + first]
        more = start + first < len(jobs)
        return {"totalCount": len(jobs), "nodes": chunk,
                "pageInfo": {"hasNextPage": more, "endCursor": str(start + first) if more else None}}

    def op_ListComputePools(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"computePools": [{"id": p["id"], "key": p["key"]} for p in self.pools]}

    def op_ListJobs(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"jobs": self._page(v["page"], v.get("filter"))}

    def op_DescribeJob(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"job": next((j for j in self.jobs if j["id"] == v["id"]), None)}

    def op_DescribeProject(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"project": self._project(v["input"])}

    def op_DescribeModelService(self, v: dict[str, Any]) -> dict[str, Any]:
        self._project(v["project"])
        svc = self.services.get((v["project"], v["model"]))
        return {"project": {"key": v["project"],
                            "modelService": self._service_out(svc) if svc else None}}

    def op_ProjectModelServices(self, v: dict[str, Any]) -> dict[str, Any]:
        self._project(v["project"])
        services = [{"deleted": s["deleted"], "model": s["model"]}
                    for (pk, _), s in self.services.items() if pk == v["project"]]
        return {"project": {"key": v["project"], "modelServices": services}}

    def op_UpdateModelComputeConfig(self, v: dict[str, Any]) -> dict[str, Any]:
        model = self.models[v["idOrKey"]]
        model["computeConfig"] = {**(model["computeConfig"] or {}), **v["input"]}
        self.commits["UpdateModelComputeConfig"] += 1
        return {"updateModelComputeConfig": model}

    def op_CreateProject(self, v: dict[str, Any]) -> dict[str, Any]:
        inp = v["input"]
        if inp["key"] in self.projects:
            raise LookupError(f"project {inp['key']} already exists")
        proj = self.add_project(inp["key"], inp["name"])
        proj["description"] = inp.get("description") or ""
        self.commits["CreateProject"] += 1
        return {"createProject": proj}

    def op_UpdateProject(self, v: dict[str, Any]) -> dict[str, Any]:
        proj = self._project(v["idOrKey"])
        proj.update(v["input"])
        self.commits["UpdateProject"] += 1
        return {"updateProject": proj}

    def op_AddModelsToProject(self, v: dict[str, Any]) -> dict[str, Any]:
        project = v["input"]["project"]
        self._project(project)
        failures = []
        for model in v["input"]["models"]:
            if (project, model) in self.services:
                failures.append({"model": model, "reason": "model already attached to project"})
            else:
                self.add_service(project, model)
                self.commits["AddModelsToProject"] += 1
        return {"addModelsToProject": {"success": not failures, "failures": failures}}

    def op_DeployModel(self, v: dict[str, Any]) -> dict[str, Any]:
        inp = v["input"]
        svc = self.services.get((inp["project"], inp["model"])) or self.add_service(inp["project"], inp["model"])
        if svc["placement"] is not None:
            raise LookupError(f"model {inp['model']} is already deployed in {inp['project']}")
        svc["placement"] = {"computePools": [f"pool-id-{p[-1]}" for p in inp["placement"]["computePools"]],
                            "maxTtftMs": inp["placement"].get("maxTtftMs")}
        svc["status"] = "PENDING"
        if "speculativeDecoding" in inp:
            svc["numDraftSteps"] = inp["speculativeDecoding"]["numDraftSteps"]
        self.commits["DeployModel"] += 1
        return {"deployModel": {"modelService": self._service_out(svc),
                                "warnings": list(self.deploy_warnings)}}

    def op_UpdateModel(self, v: dict[str, Any]) -> dict[str, Any]:
        inp = v["input"]
        svc = self.services.get((inp["project"], inp["modelService"]))
        if svc is None:
            raise LookupError(f"EntityNotFound: model service {inp['modelService']}")
        if "placement" in inp:
            svc["placement"] = dict(inp["placement"])
        for f in ("isDefault", "desiredOnline"):
            if f in inp:
                svc[f] = inp[f]
        self.commits["UpdateModel"] += 1
        return {"updateModelService": self._service_out(svc)}

    def op_RemoveModelFromProject(self, v: dict[str, Any]) -> dict[str, Any]:
        inp = v["input"]
        self._project(inp["project"])
        gone = self.services.pop((inp["project"], inp["model"]), None)
        return {"removeModelFromProject": gone is not None}

    def op_CreateJob(self, v: dict[str, Any]) -> dict[str, Any]:
        inp = v["input"]
        self.clock += 1
        job = {"id": str(uuid.uuid4()), "name": inp["name"], "status": "PENDING",
               "createdAt": self.clock, "progress": 0.0, "error": None,
               "project": {"key": inp["project"]}, "recipe": {"key": inp["recipe"]},
               "details": {"__typename": "CustomRecipeJobDetails", "args": inp["args"]},
               "commonDetails": {"numGpus": inp["numGpus"], "computePoolId": None},
               "artifacts": []}
        self.jobs.append(job)
        self.commits["CreateJob"] += 1
        return {"createJob": job}
