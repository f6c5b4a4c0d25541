"""A throwaway git repository for config-diff tests: write files, commit, with an isolated
git identity and configuration (the user's ~/.gitconfig never applies)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BASE_MAIN = """\
version: 1
workspace: prod
compute_pools:
  pool-1: {gpu: H100-80GB, gpus_per_replica: 8, replicas: 2}
  pool-2: {gpu: H200-141GB, gpus_per_replica: 8, replicas: 1}
"""

BASE_MODELS = """\
models:
  qwen-3-8b:
    architecture: qwen3-8b
    precision: bf16
    compute_config: {tp: 1, kv_cache_len: 300000, max_seq_len: 32768}
projects:
  support:
    name: Customer support
    deployments:
      qwen-3-8b:
        placement: {compute_pools: [pool-1, pool-2], max_ttft_ms: 30000}
        is_default: true
"""

# The same configuration with kv_cache_len raised, the placement pools reordered, a comment
# added and keys reordered: only kv_cache_len is a semantic difference.
HEAD_MODELS = """\
# Raised the KV cache for longer support conversations.
models:
  qwen-3-8b:
    compute_config: {kv_cache_len: 400000, tp: 1, max_seq_len: 32768}
    precision: bf16
    architecture: qwen3-8b
projects:
  support:
    deployments:
      qwen-3-8b:
        is_default: true
        placement:
          compute_pools: [pool-2, pool-1]   # order is not a difference
          max_ttft_ms: 30000
    name: Customer support
"""


class GitRepo:
    """A git repository in `root` with the workspace in `root / subdir`."""

    def __init__(self, root: Path, subdir: str = "deploy") -> None:
        self.root = root
        self.workspace = root / subdir if subdir else root
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
        }
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=self.root, env=self.env, capture_output=True, text=True,
            check=True,
        )
        return proc.stdout

    def write(self, name: str, text: str) -> Path:
        path = self.workspace / name
        path.write_text(text, encoding="utf-8")
        return path

    def remove(self, name: str) -> None:
        (self.workspace / name).unlink()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()
