"""Environments as overlays: a directory extends another one with `base: ../base`.

One repository, several platforms (staging, production, one per region): what they share
lives in a *base* directory, and each *environment* directory says `base: ../base` and holds
only what differs. A directory's own files form its *layer*; within a layer nothing changes
(a key defined in two files is still AD107). Layers are merged, the environment over its base:

- mappings merge key by key; scalars and lists replace whole (a list is never merged item by
  item), and a value of another type replaces whole too (the schema then judges it);
- removing something the base defines is explicit: `remove: [projects.sales.deployments.x]`
  names YAML paths of the base (dotted; a key holding a dot may be quoted, `models."a.b"`). A
  path that matches nothing is an error (AD154). `null` stays invalid (AD205) and a key left
  out keeps the base's value: neither removes anything. A removed path may be defined again
  by the same layer, which replaces it whole instead of merging;
- `version`, `workspace`, `platform` and `state` belong to each environment: a base that sets
  one is an error (AD153), so two environments can never share a state by inheritance;
- a base may itself have a `base` (chains such as common → production → production-eu), up to
  MAX_CHAIN layers; a cycle is an error naming the directories (AD152);
- `base` is a relative path, resolved from the directory that says it, and must stay inside
  the repository that holds the environment — the nearest ancestor with a `.git` entry, or,
  outside a git repository, the environment's parent directory (AD151). A configuration thus
  never reads files from elsewhere on the machine (a CI runner checking out a pull request).

A directory whose configuration sets none of version/workspace/platform/state is a base:
`validate` and `fit` check what can be checked without a workspace, `plan` and friends refuse.

Every node of the merged configuration keeps the position of the layer that produced its final
value (the merged `SourceMap`): a value set or replaced by the overlay points at the overlay, one
inherited points at the base, a mapping merged from both at the layer that first defined it.
`explain` tells for one YAML path which layers set, overrode, merged or removed it.

Nothing here reads files itself: layers are read by the loader's `load_layer`, handed in.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adaptive_deploy.config import codes
from adaptive_deploy.config.sourcemap import Location, SourceMap
from adaptive_deploy.diagnostics import Diagnostic, Severity, YamlPath, format_path

DIRECTIVES = ("base", "remove")
# Set by each environment, never inherited from a base.
ENVIRONMENT_KEYS = ("version", "workspace", "platform", "state")
MAX_CHAIN = 8

Kind = Literal["workspace", "environment", "base"]
# load_layer(directory, diags) -> (files, merged raw data of the directory, its positions)
LoadLayer = Callable[[Path, list[Diagnostic]], tuple[list[Path], dict[str, Any], SourceMap]]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass
class Removal:
    """One `remove` entry: its text, the base path it resolved to (None when it matched
    nothing), and where it is written."""

    text: str
    location: Location | None
    path: YamlPath | None = None


@dataclass
class Layer:
    """One directory's own configuration, directives taken out."""

    directory: Path
    files: list[Path]
    raw: dict[str, Any]
    source: SourceMap
    role: Literal["workspace", "environment", "base"] = "workspace"
    base: str | None = None
    removals: list[Removal] = field(default_factory=list)

    def owns(self, file: str | None) -> bool:
        """Whether `file` is one of this layer's files."""
        return file is not None and any(str(f) == file for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory), "role": self.role, "base": self.base,
            "files": [str(f) for f in self.files],
            "remove": [r.text for r in self.removals],
        }


def uses_overlay(raw: Mapping[str, Any]) -> bool:
    """Whether a directory's own data holds a `base` or `remove` directive."""
    return "base" in raw or "remove" in raw


def single(directory: Path, files: list[Path], raw: dict[str, Any], source: SourceMap) -> Layer:
    """The one layer of a directory without directives (no copy: nothing is merged)."""
    return Layer(directory, files, raw, source)


def kind_of(raw: Mapping[str, Any], layers: list[Layer]) -> Kind:
    """`base` when the merged configuration sets none of the environment keys (and is not
    empty: an empty or unreadable directory is reported as a workspace missing its keys),
    `environment` when it extends a base, else `workspace`."""
    if raw and not any(k in raw for k in ENVIRONMENT_KEYS):
        return "base"
    return "environment" if len(layers) > 1 else "workspace"


def find_root(directory: Path) -> Path:
    """The boundary a base must stay inside: the nearest ancestor of `directory` (itself
    included) with a `.git` entry, else `directory`'s parent."""
    start = directory.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start.parent


def resolve(
    directory: Path,
    files: list[Path],
    raw: dict[str, Any],
    source: SourceMap,
    diags: list[Diagnostic],
    *,
    load_layer: LoadLayer,
    root: Path | None = None,
    anchor: Path | None = None,
) -> tuple[dict[str, Any], SourceMap, list[Layer]]:
    """Merge `directory`'s layer (`raw`, `source`, read by the loader) over its base chain.

    `anchor` is the directory relative paths are resolved from (default `directory`; the
    import command validates a scratch copy of an environment as if it were in place).
    `root` overrides the repository boundary (`diff --base` loads a git snapshot written to a
    temporary directory). Returns the merged data, its positions, and the layers, the
    directory's own first. Problems are appended to `diags`; a base that cannot be read
    contributes nothing."""
    anchor = (anchor or directory).resolve()
    top = _own_layer(directory, files, raw, source, diags)
    layers = [top]
    boundary = (root.resolve() if root is not None else find_root(anchor))
    merged_raw, merged_source = _stack(top, anchor, boundary, layers, [anchor], diags, load_layer)
    top.role = "environment" if len(layers) > 1 else "workspace"
    return merged_raw, merged_source, layers


# ------------------------------------------------------------------------------ layers


def _own_layer(
    directory: Path, files: list[Path], raw: dict[str, Any], source: SourceMap,
    diags: list[Diagnostic],
) -> Layer:
    own = {k: v for k, v in raw.items() if k not in DIRECTIVES}
    layer = Layer(directory, files, own, source)
    base = raw.get("base", MISSING)
    if base is not MISSING:
        if isinstance(base, str) and base.strip():
            layer.base = base.strip()
        else:
            diags.append(source.diagnostic(
                Severity.ERROR, codes.OVERLAY_DIRECTIVE,
                "'base' must be the relative path of a directory, e.g. base: ../base",
                ("base",), value=True))
    remove = raw.get("remove", MISSING)
    if remove is not MISSING:
        if not isinstance(remove, list) or not remove:
            diags.append(source.diagnostic(
                Severity.ERROR, codes.OVERLAY_DIRECTIVE,
                "'remove' must be a list of YAML paths of the base, e.g. "
                "remove: [projects.sales.deployments.legal-lora-v2]", ("remove",), value=True))
        else:
            for i, item in enumerate(remove):
                if isinstance(item, str) and item.strip():
                    layer.removals.append(Removal(item.strip(), source.values.get(("remove", i))))
                else:
                    diags.append(source.diagnostic(
                        Severity.ERROR, codes.OVERLAY_DIRECTIVE,
                        "each 'remove' entry is a dotted YAML path such as "
                        "projects.sales.deployments.legal-lora-v2", ("remove", i), value=True))
        if layer.base is None and base is MISSING:
            diags.append(source.diagnostic(
                Severity.ERROR, codes.OVERLAY_DIRECTIVE,
                "'remove' applies to a base, and this directory has no 'base'", ("remove",)))
    return layer


def _stack(
    layer: Layer, anchor: Path, boundary: Path, layers: list[Layer], chain: list[Path],
    diags: list[Diagnostic], load_layer: LoadLayer,
) -> tuple[dict[str, Any], SourceMap]:
    """`layer` merged over its base chain (recursively)."""
    if layer.base is None:
        return layer.raw, layer.source
    base_dir = _locate_base(layer, anchor, boundary, chain, diags)
    if base_dir is None:
        return layer.raw, layer.source
    own_diags: list[Diagnostic] = []
    files, raw, source = load_layer(_shown(base_dir), own_diags)
    if not files:
        diags.append(_at_base(layer, codes.OVERLAY_BASE_NOT_FOUND,
                              f"base {layer.base!r} ({base_dir}) holds no *.yaml or *.yml file"))
        return layer.raw, layer.source
    diags.extend(own_diags)
    base = _own_layer(_shown(base_dir), files, raw, source, diags)
    base.role = "base"
    _refuse_environment_keys(base, diags)
    layers.append(base)
    under_raw, under_source = _stack(base, base_dir, boundary, layers, [*chain, base_dir], diags,
                                     load_layer)
    under_raw, removed = _apply_removals(layer, _shown(base_dir), under_raw, diags)
    return merge(under_raw, under_source, layer.raw, layer.source, removed)


def _shown(directory: Path) -> Path:
    """A resolved base directory as paths are shown: relative to the current directory when
    it lies below it (as the environment's own paths usually are), else absolute."""
    try:
        return directory.relative_to(Path.cwd().resolve())
    except ValueError:
        return directory


def _at_base(layer: Layer, code: str, message: str) -> Diagnostic:
    return layer.source.diagnostic(Severity.ERROR, code, message, ("base",), value=True)


def _locate_base(
    layer: Layer, anchor: Path, boundary: Path, chain: list[Path], diags: list[Diagnostic]
) -> Path | None:
    text = layer.base
    assert text is not None
    if os.path.isabs(text) or text.startswith("~"):
        diags.append(_at_base(layer, codes.OVERLAY_OUTSIDE_ROOT,
                              f"base {text!r} is an absolute path; write it relative to this "
                              "directory, e.g. base: ../base"))
        return None
    resolved = (anchor / text).resolve()
    if not resolved.is_relative_to(boundary):
        diags.append(_at_base(layer, codes.OVERLAY_OUTSIDE_ROOT,
                              f"base {text!r} resolves to {resolved}, outside {boundary} (the "
                              "repository holding this configuration); a base must live in the "
                              "same repository"))
        return None
    if not resolved.is_dir():
        diags.append(_at_base(layer, codes.OVERLAY_BASE_NOT_FOUND,
                              f"base {text!r}: no such directory ({resolved})"))
        return None
    if resolved in chain:
        loop = " → ".join(str(p) for p in [*chain[chain.index(resolved):], resolved])
        diags.append(_at_base(layer, codes.OVERLAY_CHAIN,
                              f"base {text!r} makes a cycle: {loop}"))
        return None
    if len(chain) >= MAX_CHAIN:
        diags.append(_at_base(layer, codes.OVERLAY_CHAIN,
                              f"base {text!r}: chains of bases are limited to {MAX_CHAIN} "
                              "directories"))
        return None
    return resolved


def _refuse_environment_keys(base: Layer, diags: list[Diagnostic]) -> None:
    for key in ENVIRONMENT_KEYS:
        if key in base.raw:
            diags.append(base.source.diagnostic(
                Severity.ERROR, codes.OVERLAY_INHERITED_KEY,
                f"'{key}' is set in the base {base.directory}; version, workspace, platform and "
                "state belong to each environment and are never inherited (so two environments "
                "never share a state): move it into every environment directory", (key,)))
            del base.raw[key]


# ------------------------------------------------------------------------------ remove


def _apply_removals(
    layer: Layer, base_dir: Path, data: dict[str, Any], diags: list[Diagnostic]
) -> tuple[dict[str, Any], set[YamlPath]]:
    removed: set[YamlPath] = set()
    for removal in layer.removals:
        path = parse_path(removal.text, data)
        if path is None:
            message = (f"remove: {removal.text!r} matches nothing in the base ({base_dir})"
                       f"{_near_miss(removal.text, data)}")
            loc = removal.location
            diags.append(Diagnostic(
                Severity.ERROR, codes.OVERLAY_REMOVE_NOTHING, message,
                loc.file if loc else None, loc.line if loc else None,
                loc.column if loc else None, ("remove",)))
            continue
        removal.path = path
        data = without(data, path)
        removed.add(path)
    return data, removed


def _near_miss(text: str, data: Mapping[str, Any]) -> str:
    """`; did you mean 'x'?` from the keys at the level where `text` stopped matching."""
    node: Any = data
    rest = text
    while isinstance(node, Mapping) and rest:
        key = next((k for k in sorted(node, key=len, reverse=True)
                    if rest == k or rest.startswith(k + ".")), None)
        if key is None:
            head = rest.split(".", 1)[0]
            hint = difflib.get_close_matches(head, [str(k) for k in node], n=1, cutoff=0.6)
            return f"; did you mean '{hint[0]}'?" if hint else ""
        node, rest = node[key], rest[len(key) + 1:]
    return ""


def without(data: dict[str, Any], path: YamlPath) -> dict[str, Any]:
    """A copy of `data` without `path` (only the mappings along the path are copied)."""
    head = str(path[0])  # removal paths are mapping keys only (see parse_path)
    out = dict(data)
    if len(path) == 1:
        del out[head]
    else:
        out[head] = without(data[head], path[1:])
    return out


def parse_path(text: str, data: Any) -> YamlPath | None:
    """The path of mapping keys `text` names in `data`, or None when it matches nothing.

    Paths are dotted (`projects.sales.deployments.legal-lora-v2`); a key containing a dot (a
    model such as `llama-3.1-8b`) is found as written, or may be quoted (`models."a.b"`).
    List items are not addressable: lists are replaced whole."""
    text = text.strip()
    return _match(text, data, ()) if text else None


def _match(rest: str, node: Any, prefix: YamlPath) -> YamlPath | None:
    if not isinstance(node, Mapping):
        return None
    if rest.startswith('"'):
        end = rest.find('"', 1)
        key = rest[1:end] if end > 0 else None
        candidates = [(key, rest[end + 1:])] if key is not None and key in node else []
    else:
        candidates = sorted(
            ((k, rest[len(k):]) for k in node if isinstance(k, str)
             and (rest == k or rest.startswith(k + "."))),
            key=lambda c: -len(c[0]),
        )
    for key, after in candidates:
        if after == "":
            return (*prefix, key)
        if after.startswith("."):
            found = _match(after[1:], node[key], (*prefix, key))
            if found is not None:
                return found
    return None


def get(data: Any, path: YamlPath) -> Any:
    """The value at `path`, or MISSING."""
    for part in path:
        found = (isinstance(data, Mapping) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data))
        if not found:
            return MISSING
        data = data[part]
    return data


# ------------------------------------------------------------------------------ merge


def merge(
    under: dict[str, Any], under_source: SourceMap, over: dict[str, Any], over_source: SourceMap,
    removed: set[YamlPath] = frozenset(),  # type: ignore[assignment]
) -> tuple[dict[str, Any], SourceMap]:
    """`over` merged over `under` (neither is changed), and the positions of the result: a
    node keeps the position of the layer that produced its final value."""
    replaced: set[YamlPath] = set(removed)
    data = _deep_merge(under, over, (), replaced)
    source = SourceMap(default_file=over_source.default_file or under_source.default_file)
    if replaced:
        def kept(p: YamlPath) -> bool:
            return not any(p[:i] in replaced for i in range(1, len(p) + 1))

        source.keys = {p: loc for p, loc in under_source.keys.items() if kept(p)}
        source.values = {p: loc for p, loc in under_source.values.items() if kept(p)}
    else:
        source.keys = dict(under_source.keys)
        source.values = dict(under_source.values)
    for p, loc in over_source.keys.items():
        source.keys.setdefault(p, loc)
    for p, loc in over_source.values.items():
        source.values.setdefault(p, loc)
    # The top level belongs to the environment: a missing required key is its to add.
    if () in over_source.values:
        source.values[()] = over_source.values[()]
    return data, source


def _deep_merge(
    under: Mapping[str, Any], over: Mapping[str, Any], path: YamlPath, replaced: set[YamlPath]
) -> dict[str, Any]:
    out = dict(under)
    for key, value in over.items():
        current = out.get(key, MISSING)
        child = (*path, key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = _deep_merge(current, value, child, replaced)
        else:
            if current is not MISSING:
                replaced.add(child)
            out[key] = value
    return out


# ------------------------------------------------------------------------------ explain


Action = Literal["sets", "overrides", "merges", "removes"]


@dataclass(frozen=True)
class Step:
    """What one layer did to a path."""

    directory: str
    role: str
    action: Action
    value: Any
    file: str | None
    line: int | None
    column: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": self.directory, "role": self.role, "action": self.action,
            "value": None if self.value is MISSING else self.value,
            "file": self.file, "line": self.line, "column": self.column,
        }


@dataclass(frozen=True)
class Explanation:
    """Where the value at one YAML path comes from: `steps` base first, the final value and
    the position diagnostics use for it."""

    path: YamlPath
    value: Any
    file: str | None
    line: int | None
    column: int | None
    steps: tuple[Step, ...]

    @property
    def found(self) -> bool:
        return bool(self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": format_path(self.path), "defined": self.value is not MISSING,
            "value": None if self.value is MISSING else self.value,
            "file": self.file, "line": self.line, "column": self.column,
            "layers": [s.to_dict() for s in self.steps],
        }


def explain(
    text: str, raw: Mapping[str, Any], source: SourceMap, layers: list[Layer]
) -> Explanation | None:
    """Which layers set, override, merge or remove the YAML path `text`; None when no layer
    ever defined it."""
    path = parse_path(text, raw)
    if path is None:
        for layer in layers:
            path = parse_path(text, layer.raw)
            if path is not None:
                break
    if path is None:
        return None
    steps: list[Step] = []
    current: Any = MISSING
    for layer in reversed(layers):
        for removal in layer.removals:
            if removal.path is not None and path[: len(removal.path)] == removal.path \
                    and current is not MISSING:
                loc = removal.location
                steps.append(Step(str(layer.directory), layer.role, "removes", MISSING,
                                  *_loc(loc)))
                current = MISSING
        value = get(layer.raw, path)
        if value is MISSING:
            continue
        if current is MISSING:
            action: Action = "sets"
        elif isinstance(current, dict) and isinstance(value, dict):
            action = "merges"
        else:
            action = "overrides"
        steps.append(Step(str(layer.directory), layer.role, action, value,
                          *_loc(layer.source.find(path, value=True))))
        current = value
    final = get(raw, path)
    where = source.find(path, value=True) if final is not MISSING else None
    return Explanation(path, final, *_loc(where), tuple(steps))


def _loc(loc: Location | None) -> tuple[str | None, int | None, int | None]:
    return (loc.file, loc.line, loc.column) if loc is not None else (None, None, None)


def layer_of(file: str | None, layers: list[Layer]) -> Layer | None:
    """The layer that owns `file`."""
    return next((layer for layer in layers if layer.owns(file)), None)


def own_leaves(layer: Layer) -> Iterator[YamlPath]:
    """Every path the layer sets itself: leaves (scalars, lists, empty mappings) of its data,
    and the paths it removes from its base."""
    def walk(node: Any, path: YamlPath) -> Iterator[YamlPath]:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                yield from walk(value, (*path, key))
        elif path:
            yield path

    yield from walk(layer.raw, ())
    for removal in layer.removals:
        if removal.path is not None:
            yield removal.path


# ------------------------------------------------------------------------------ named files


class LayeredSource:
    """Files a configuration names (a `config.json` architecture, rules/hfconfig.py), looked up
    relative to each layer's directory in turn — the environment's own first, then its bases —
    as the layer that names the file may be either. Duck-types `hfconfig.DirectorySource`."""

    def __init__(self, sources: list[Any]) -> None:
        self.sources = sources

    def _first(self, relpath: str) -> Any:
        for source in self.sources:
            try:
                source.read(relpath)
            except OSError:
                continue
            return source
        return self.sources[0]

    def read(self, relpath: str) -> bytes:
        """The bytes of the first layer's file (OSError from the first layer when none has it)."""
        data: bytes = self._first(relpath).read(relpath)
        return data

    def describe(self, relpath: str) -> str:
        text: str = self._first(relpath).describe(relpath)
        return text


def file_source(layers: list[Layer], make: Callable[[Path], Any] | None = None) -> Any:
    """The file source of a loaded configuration: `make(directory)` per layer (default
    `hfconfig.DirectorySource`), one source without a base, layered with one."""
    if make is None:
        from adaptive_deploy.rules.hfconfig import DirectorySource

        make = DirectorySource
    sources = [make(layer.directory) for layer in layers]
    return sources[0] if len(sources) == 1 else LayeredSource(sources)
