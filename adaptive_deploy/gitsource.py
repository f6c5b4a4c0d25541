"""Read a workspace directory's YAML files as they were at a git ref.

`diff --base REF` compares the working tree's configuration with the one committed at `REF`.
To load both sides with exactly the same loader (same positions, same validation), the base
side's files are written into a temporary directory and loaded from there; `GitSnapshot`
remembers which temporary file stands for which `REF:path`, so diagnostics can name the file
the user knows.

Only the `git` binary is used (subprocess, no shell), read-only: `rev-parse`, `ls-tree`,
`cat-file`. Nothing here prints.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adaptive_deploy.errors import UsageError

CONFIG_SUFFIXES = (".yaml", ".yml")
_GIT_TIMEOUT_S = 30


@dataclass(frozen=True)
class GitSnapshot:
    """The configuration files of one directory at one git ref — and of the base directories
    it extends (environments, config/overlay.py) — written to `directory` under their
    repository paths, so relative `base:` paths resolve as they do in the repository.

    `names` maps each written file's path (relative to `directory`) to its repository path,
    e.g. `deploy/models.yaml`; `label(name)` renders it as `REF:deploy/models.yaml`. `own`
    lists the workspace directory's own files, `workspace_dir` is where they were written.
    """

    ref: str
    commit: str
    repo_root: Path
    prefix: str  # the workspace directory relative to the repository root, "" or "deploy/"
    directory: Path
    names: dict[str, str] = field(default_factory=dict)
    own: tuple[str, ...] = ()

    @property
    def workspace_dir(self) -> Path:
        return self.directory / self.prefix if self.prefix else self.directory

    @property
    def files(self) -> list[Path]:
        """The written files, sorted by path."""
        return [self.directory / n for n in sorted(self.names)]

    def label(self, name: str) -> str:
        """`REF:repo/relative/path` for a written file's path."""
        return f"{self.ref}:{self.names.get(name, name)}"

    def relabel(self, file: str | None) -> str | None:
        """Map a path inside the temporary directory onto its `REF:path` label; other paths
        are returned unchanged."""
        if file is None:
            return None
        p = Path(file)
        if not p.is_absolute():
            p = Path.cwd() / p
        try:
            rel = p.resolve().relative_to(self.directory.resolve())
        except ValueError:
            return file
        return self.label(rel.as_posix())


def _git(args: Sequence[str], cwd: Path, *, input_: bytes | None = None) -> bytes:
    """Run git; raise UsageError with git's own message on failure."""
    env = dict(os.environ)
    # Never open an editor or pager, never prompt, and speak English so messages are stable.
    env.update({"GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, input=input_, capture_output=True, env=env,
            timeout=_GIT_TIMEOUT_S, check=False,
        )
    except FileNotFoundError:
        raise UsageError("git is not installed or not on PATH; diff --base needs it") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} did not finish within {_GIT_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout


def locate(directory: Path) -> tuple[Path, str]:
    """Return (repository root, directory prefix relative to the root, '' or 'sub/dir/').

    Raises UsageError when `directory` does not exist or is not inside a git work tree.
    """
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    try:
        out = _git(["rev-parse", "--show-toplevel", "--show-prefix"], cwd=directory)
    except UsageError as exc:
        # Keep git's own reason: "not a git repository" and "dubious ownership" (a checkout
        # owned by another user, common in CI containers) need different fixes.
        raise UsageError(
            f"{directory} is not inside a usable git repository; diff --base compares against "
            f"a git ref ({exc})"
        ) from None
    lines = out.decode("utf-8").splitlines()
    root = Path(lines[0])
    prefix = lines[1] if len(lines) > 1 else ""
    return root, prefix


def resolve_ref(repo_root: Path, ref: str) -> str:
    """The commit id `ref` names; UsageError naming the ref when it does not exist."""
    # A ref starting with '-' would be read as an option by git.
    if not ref or ref.startswith("-") or "\0" in ref:
        raise UsageError(f"invalid git ref {ref!r}")
    try:
        out = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repo_root)
    except UsageError:
        raise UsageError(
            f"unknown git ref {ref!r}: not a commit, branch or tag in {repo_root} "
            "(in CI, fetch the base branch first, e.g. actions/checkout with fetch-depth: 0)"
        ) from None
    return out.decode("ascii").strip()


def list_config_files(repo_root: Path, commit: str, prefix: str) -> list[str]:
    """Repository-relative paths of the `*.yaml` / `*.yml` blobs directly in `prefix` at
    `commit` (not recursive, like the loader). An absent directory gives an empty list."""
    # `ls-tree COMMIT -- dir/` lists the directory's entries; with an empty prefix, the root.
    args = ["ls-tree", "-z", "--full-name", commit]
    if prefix:
        args += ["--", prefix]
    out = _git(args, cwd=repo_root)
    paths = []
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, _ = meta.decode("ascii").split(" ", 2)
        path = raw_path.decode("utf-8", "surrogateescape")
        # Blobs only: subdirectories (trees) are not read by the loader, and submodules
        # (commits) or symlinks (mode 120000) do not hold configuration text.
        if kind != "blob" or mode == "120000":
            continue
        if path.endswith(CONFIG_SUFFIXES):  # case-sensitive, like the loader
            paths.append(path)
    return sorted(paths)


def read_blobs(repo_root: Path, commit: str, paths: Sequence[str]) -> dict[str, bytes]:
    """Contents of `paths` at `commit`, read with one `git cat-file --batch` call."""
    if not paths:
        return {}
    request = "".join(f"{commit}:{p}\n" for p in paths).encode("utf-8", "surrogateescape")
    out = _git(["cat-file", "--batch"], cwd=repo_root, input_=request)
    contents: dict[str, bytes] = {}
    pos = 0
    for path in paths:
        eol = out.index(b"\n", pos)
        header = out[pos:eol].decode("utf-8", "replace").split()
        if len(header) != 3 or header[1] != "blob":
            raise UsageError(f"git cat-file could not read {commit[:12]}:{path}")
        size = int(header[2])
        start = eol + 1
        contents[path] = out[start : start + size]
        pos = start + size + 1  # the object is followed by a newline
    return contents


def changed_files(repo_root: Path, commit: str) -> list[str]:
    """Repository-relative paths that differ between `commit` and the working tree (both
    sides of a rename; untracked files are not included)."""
    out = _git(["diff", "--name-only", "-z", "--no-renames", commit, "--"], cwd=repo_root)
    return sorted({p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p})


def snapshot(directory: Path, ref: str, dest: Path) -> GitSnapshot:
    """Write the configuration files of `directory` as of `ref` into `dest` (which must exist
    and be empty) under their repository paths, followed by those of the base directories
    its `base:` chain names at that ref, and describe them. Load the result with
    `load_config(snap.workspace_dir, root=snap.directory)`."""
    repo_root, prefix = locate(directory)
    commit = resolve_ref(repo_root, ref)
    names: dict[str, str] = {}
    own = _write(repo_root, commit, prefix, dest, names)
    current, seen = prefix, {prefix}
    for _ in range(MAX_BASES):
        base = _base_of(dest / current) if current else _base_of(dest)
        if base is None:
            break
        joined = posixpath.normpath(posixpath.join(current or ".", base))
        # Outside the repository or already read: the loader reports it (AD151, AD152).
        if joined.startswith("..") or posixpath.isabs(base) or joined == ".":
            break
        current = joined + "/"
        if current in seen:
            break
        seen.add(current)
        _write(repo_root, commit, current, dest, names)
    return GitSnapshot(ref, commit, repo_root, prefix, dest, names, tuple(own))


MAX_BASES = 8


def _write(repo_root: Path, commit: str, prefix: str, dest: Path, names: dict[str, str]) -> list[str]:
    paths = list_config_files(repo_root, commit, prefix)
    blobs = read_blobs(repo_root, commit, paths)
    for path, data in blobs.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        names[path] = path
    return paths


def _base_of(directory: Path) -> str | None:
    """The `base:` a written directory's files name, if any."""
    from adaptive_deploy.config.loader import load_layer

    if not directory.is_dir():
        return None
    _, raw, _ = load_layer(directory, [])
    base = raw.get("base")
    return base.strip() if isinstance(base, str) and base.strip() else None
