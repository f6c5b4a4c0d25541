"""Generate a large, valid, realistic workspace for benchmarks and scale tests.

    python bench/genworkspace.py DIR [--deployments 1000] [--projects 100] [--models 200] [--seed 0]

`generate(directory, deployments=1000, projects=100, models=200, seed=0)` is imported by other
benchmarks (plan / apply at scale); keep its signature. Output is deterministic for a seed.

Shape: compute pools of real GPU types (8 GPUs per replica); `models` counts base models and
adapters together (two fifths are bases); each base has at most 4 adapters, lives on one pool,
fits in memory with room to spare (kv_cache_len 32768, tp 1 or 2); every other qwen3-8b slot is
`<target>_accelerated` with a qwen3-0.6b draft, produced by a specdec_alignment job. Each project deploys a few bases
and their adapters on the base's pool. Files: workspace.yaml, models.yaml, jobs.yaml and
projects-NN.yaml (ten projects per file).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import yaml

# (architecture, attention heads) — catalog names; tp ∈ {1, 2} divides every head count here.
_ARCHITECTURES = ["qwen3-8b", "llama-3.1-8b", "qwen3-4b", "qwen3-0.6b", "llama-3.2-1b",
                  "mistral-7b-v0.3", "qwen3-1.7b", "llama-3.2-3b"]
_GPUS = ["H100-80GB", "H200-141GB", "A100-80GB", "B200-192GB", "H100-NVL-94GB"]
_RANKS = [8, 16, 32]
_PROJECT_WORDS = ["support", "search", "billing", "legal", "sales", "ops", "risk", "docs", "hr",
                  "triage", "fraud", "claims", "ads", "chat", "code", "eval"]
PROJECTS_PER_FILE = 10
MAX_ADAPTERS_PER_BASE = 4


def _dump(path: Path, data: dict[str, Any]) -> None:
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(data, Dumper=dumper, sort_keys=False, width=100), encoding="utf-8")


def generate(
    directory: str | Path,
    deployments: int = 1000,
    projects: int = 100,
    models: int = 200,
    seed: int = 0,
) -> Path:
    """Write a valid workspace with the given counts into `directory`; returns its path.

    `models` counts bases plus adapters. Deployments are spread evenly over projects; a project
    never deploys more models than exist.
    """
    rng = random.Random(seed)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    n_bases = max(1, models * 2 // 5)
    n_pools = max(1, (n_bases + 7) // 8)
    pools = {
        f"pool-{i + 1:02d}": {"gpu": _GPUS[i % len(_GPUS)], "gpus_per_replica": 8, "replicas": 4}
        for i in range(n_pools)
    }
    pool_names = list(pools)

    model_specs: dict[str, Any] = {}
    jobs: dict[str, Any] = {}
    bases: list[str] = []
    base_pool: dict[str, str] = {}
    drafted: set[str] = set()
    for i in range(n_bases):
        arch = _ARCHITECTURES[i % len(_ARCHITECTURES)]
        key = f"{arch.replace('.', '-')}-ft-{i:03d}"
        tp = 2 if i % 7 == 3 else 1
        spec: dict[str, Any] = {
            "architecture": arch,
            "precision": "bf16",
            "compute_config": {"tp": tp, "kv_cache_len": 32768, "max_seq_len": 32768},
        }
        # Every other qwen3-8b slot is the speculative-decoding output of the one 8 slots
        # earlier: `<target>_accelerated` with a qwen3-0.6b draft, produced by a job.
        if i % 16 == 8 and _ARCHITECTURES[(i - 8) % len(_ARCHITECTURES)] == arch == "qwen3-8b":
            target = bases[i - 8]
            key = f"{target}_accelerated"
            job = f"train-{target}-draft"
            spec["draft"] = "qwen3-0.6b"
            spec["produced_by"] = job
            jobs[job] = {
                "recipe": "specdec_alignment",
                "project": "",  # the first project, filled in once projects exist
                "num_gpus": 2,
                "args": {"target_model": target, "draft_model": "qwen-3-500m",
                         "dataset": "prompts"},
            }
            drafted.add(key)
        model_specs[key] = spec
        bases.append(key)
        base_pool[key] = pool_names[i % n_pools]

    adapter_bases = [b for b in bases if b not in drafted]
    n_adapters = min(models - n_bases, len(adapter_bases) * MAX_ADAPTERS_PER_BASE)
    adapters_of: dict[str, list[str]] = {b: [] for b in bases}
    for j in range(n_adapters):
        base = adapter_bases[j % len(adapter_bases)]
        key = f"{base}-lora-{len(adapters_of[base]) + 1}"
        model_specs[key] = {"adapter_of": base, "rank": rng.choice(_RANKS)}
        adapters_of[base].append(key)

    project_specs: dict[str, Any] = {}
    per_project, extra = divmod(deployments, max(1, projects))
    for p in range(projects):
        word = _PROJECT_WORDS[p % len(_PROJECT_WORDS)]
        pkey = f"{word}-{p:03d}"
        want = min(per_project + (1 if p < extra else 0), len(model_specs))
        order = bases[:]
        rng.shuffle(order)
        deps: dict[str, Any] = {}
        for base in order:
            if len(deps) >= want:
                break
            pool = base_pool[base]
            dep: dict[str, Any] = {"placement": {"compute_pools": [pool], "max_ttft_ms": 30000}}
            if not deps:
                dep["is_default"] = True
            if base in drafted:
                dep["num_draft_steps"] = rng.randint(2, 6)
            deps[base] = dep
            for adapter in adapters_of[base]:
                if len(deps) >= want:
                    break
                deps[adapter] = {"placement": {"compute_pools": [pool]}}
        project_specs[pkey] = {
            "name": f"{word.capitalize()} {p:03d}",
            "description": f"Generated project {p} (seed {seed}).",
            "deployments": deps,
        }

    first_project = next(iter(project_specs), None)
    for job_name, job in list(jobs.items()):
        if first_project is None:
            del jobs[job_name]
        else:
            job["project"] = first_project
    for key in drafted:
        if first_project is None:
            model_specs[key].pop("produced_by")

    _dump(out / "workspace.yaml", {
        "version": 1,
        "workspace": f"bench-{seed}",
        "compute_pools": pools,
        "rules": {"adapters_per_base_model": MAX_ADAPTERS_PER_BASE},
    })
    _dump(out / "models.yaml", {"models": model_specs})
    if jobs:
        _dump(out / "jobs.yaml", {"jobs": jobs})
    keys = list(project_specs)
    for f in range(0, len(keys), PROJECTS_PER_FILE):
        chunk = {k: project_specs[k] for k in keys[f:f + PROJECTS_PER_FILE]}
        _dump(out / f"projects-{f // PROJECTS_PER_FILE:02d}.yaml", {"projects": chunk})
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: `python bench/genworkspace.py DIR [options]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory")
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = generate(args.directory, args.deployments, args.projects, args.models, args.seed)
    sys.stdout.write(f"wrote workspace to {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
