"""Stage 1 of validation: read a workspace's YAML files into one merged, located configuration.

`load_config` never raises for bad input: every problem becomes a located Diagnostic, and
`LoadedConfig.workspace` is None when any error was found. Order of checks, each with its own
stable code (config/codes.py):

1. files: existence, size (> 10 MB is refused unparsed), binary content, UTF-8;
2. YAML: parsed to nodes (libyaml when available), then built into plain data by our own
   builder, which records file/line/column of every key and value, refuses duplicate keys,
   custom tags and alias bombs (expansion is counted, never unbounded);
3. merge: top-level sections merge across files, a section entry or a scalar key defined in two
   files is an error naming both places;
4. `${env:NAME}` placement and literal secrets;
5. JSON Schema (the committed schema file), errors mapped to positions with stable codes;
6. the pydantic `Workspace` (for the few checks JSON Schema cannot express).
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import hashlib
import json
import marshal
import math
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from adaptive_deploy.config import codes, envref, overlay
from adaptive_deploy.config.sourcemap import Location, SourceMap
from adaptive_deploy.diagnostics import (
    Diagnostic,
    Severity,
    YamlPath,
    format_path,
    has_errors,
    sorted_diagnostics,
)

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaError

    from adaptive_deploy.config.models import Workspace

MAX_FILE_BYTES = 10 * 1024 * 1024
# A legitimate config reuses anchors a few thousand times at most; a billion-laughs document
# needs millions of expansions. Counted in nodes built through an alias.
MAX_ALIAS_EXPANSION = 100_000
MAX_DEPTH = 64
YAML_SUFFIXES = (".yaml", ".yml")
STATE_DIR = ".adaptive-deploy"

# Top-level keys whose entries merge across files; every other top-level key may appear once.
MERGED_SECTIONS = ("compute_pools", "models", "projects", "jobs")

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

_constructor = yaml.constructor.SafeConstructor()

# YAML 1.1 octal (`010` → 8); `0` alone and `0o`/`0x`/`0b` forms are not matched.
_OCTAL_RE = re.compile(r"^0[0-7_]+$")
_INT64 = 2**63
# Longer numerals are refused before conversion (int() of 4,300+ digits raises ValueError).
_MAX_NUMBER_CHARS = 40


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


@dataclass
class LoadedConfig:
    """The result of stage 1 (see docs/DESIGN.md).

    `raw` is the merged configuration with `${env:NAME}` templates unresolved; `workspace` is
    None when `diagnostics` holds an error; `digest` is the sha256 of canonical JSON of `raw`.
    """

    directory: Path
    files: list[Path] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    workspace: Workspace | None = None
    source: SourceMap = field(default_factory=SourceMap)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    digest: str = ""
    # Environments (config/overlay.py): the layers merged, this directory's own first;
    # `kind` is workspace, environment (it has a base) or base (no version, workspace,
    # platform or state); a base's content checked as a Workspace is `as_base`, never
    # `workspace`, so nothing plans or applies a base by mistake.
    layers: list[overlay.Layer] = field(default_factory=list)
    kind: overlay.Kind = "workspace"
    as_base: Workspace | None = None

    @property
    def valid(self) -> bool:
        """True when stage 1 found no error (warnings allowed)."""
        return not has_errors(self.diagnostics)

    def drop_positions(self) -> None:
        """Forget where each node came from, keeping the file a position falls back to.

        The positions (`source`, per layer too) are what places a diagnostic; past stage 2
        nothing is placed any more, and at 50,000 deployments they weigh ~90 MB, held
        through planning. A diagnostic made afterwards names the first file, no line."""
        self.source = SourceMap(default_file=self.source.default_file)
        for layer in self.layers:
            layer.source = SourceMap(default_file=layer.source.default_file)

    def sensitive_paths(self) -> list[YamlPath]:
        """YAML paths whose values hold `${env:NAME}` templates (sensitive once resolved)."""
        return envref.template_paths(self.raw)


def config_digest(raw: Any) -> str:
    """sha256 (hex) over canonical JSON of `raw`: sorted keys, no whitespace, UTF-8."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_config(
    directory: str | Path, *, root: Path | None = None, base_anchor: Path | None = None
) -> LoadedConfig:
    """Load, merge and validate (stage 1) the workspace at `directory` (or one YAML file).

    A directory that says `base: DIR` is merged over its base (config/overlay.py); `root`
    and `base_anchor` are passed on to `overlay.resolve`. Never raises for bad input;
    problems are in `.diagnostics`, sorted by file and line.
    """
    target = Path(directory)
    loaded = LoadedConfig(directory=target if target.is_dir() else target.parent)
    diags: list[Diagnostic] = []
    files, raw, source = load_layer(target, diags)
    loaded.files = files
    if overlay.uses_overlay(raw):
        raw, source, loaded.layers = overlay.resolve(
            loaded.directory, files, raw, source, diags, load_layer=load_layer, root=root,
            anchor=base_anchor)
    else:
        loaded.layers = [overlay.single(loaded.directory, files, raw, source)]
    loaded.raw, loaded.source = raw, source
    loaded.kind = overlay.kind_of(raw, loaded.layers)
    loaded.digest = config_digest(loaded.raw)
    if files and not has_errors(diags):
        base = loaded.kind == "base"
        diags.extend(_check_env_refs_and_secrets(loaded.raw, loaded.source))
        diags.extend(_check_schema(loaded.raw, loaded.source, skip=_paths_of(diags),
                                   workspace=not base))
        if not has_errors(diags):
            # A base has no version or workspace: its model is built with placeholders and
            # kept apart (`as_base`), never planned.
            data = {**loaded.raw, "version": 1, "workspace": "base"} if base else loaded.raw
            workspace, model_diags = _build_workspace(data, loaded.source)
            diags.extend(model_diags)
            if not has_errors(diags) and workspace is not None:
                # Files the configuration names (a config.json architecture) are read from
                # the directory, then from each base (config/overlay.py).
                workspace._files = overlay.file_source(loaded.layers)
                if base:
                    loaded.as_base = workspace
                else:
                    loaded.workspace = workspace
    loaded.diagnostics = sorted_diagnostics(diags)
    return loaded


def load_layer(target: Path, diags: list[Diagnostic]) -> tuple[list[Path], dict[str, Any], SourceMap]:
    """One directory's (or file's) own configuration: its files, their merged data and
    positions; problems appended to `diags`."""
    source = SourceMap()
    files = _collect_files(target, diags)
    if files:
        source.default_file = str(files[0])
        source.add((), Location(str(files[0]), 1, 1))

    documents: list[tuple[Path, dict[str, Any], SourceMap]] = []
    for path in files:
        doc = _load_file(path, diags)
        if doc is not None:
            documents.append((path, doc[0], doc[1]))
    return files, _merge(documents, source, diags), source


# --------------------------------------------------------------------------- files


def _collect_files(target: Path, diags: list[Diagnostic]) -> list[Path]:
    """The configuration files of `target` (a directory, or one file), in name order.

    Every `*.yaml` / `*.yml` entry of the directory is either read or reported: a dangling
    symlink, a symlink loop, a directory, a FIFO or a device with such a name is an error
    (skipping it would plan the deletion of everything a missing shared file declares).
    Hidden entries (`.pre-commit-config.yaml`, `.adaptive-deploy/`) belong to other tools and
    are not part of the workspace.
    """
    if not target.is_dir():
        problem = _not_a_file(target)
        if problem is None:
            return [target]
        if problem == _MISSING:
            diags.append(_err(codes.PATH_NOT_FOUND, f"no such file or directory: {target}",
                              str(target)))
        else:
            diags.append(_err(codes.NOT_A_FILE, f"{target} {problem}", str(target)))
        return []
    try:
        entries = sorted(os.scandir(target), key=lambda e: e.name)
    except OSError as exc:
        diags.append(_err(codes.PATH_NOT_FOUND, f"cannot read directory: {exc.strerror}", str(target)))
        return []
    files: list[Path] = []
    hidden: list[str] = []
    root = target.resolve()
    for entry in entries:
        if not entry.name.endswith(YAML_SUFFIXES):
            continue
        if entry.name.startswith("."):
            hidden.append(entry.name)
            continue
        path = target / entry.name
        problem = _not_a_file(path)
        if problem is not None:
            diags.append(_err(
                codes.NOT_A_FILE,
                f"{entry.name} {problem}; every *.yaml / *.yml entry of the workspace must be a "
                "readable file (remove or rename it)",
                str(path), 1, 1,
            ))
            continue
        if entry.is_symlink():
            resolved = path.resolve()
            if not resolved.is_relative_to(root):
                diags.append(Diagnostic(
                    Severity.WARNING, codes.SYMLINK_OUTSIDE,
                    f"{entry.name} is a symbolic link to {resolved}, outside the workspace "
                    "directory; it is merged, so a change there changes this workspace",
                    str(path), 1, 1, (),
                ))
        files.append(path)
    if not files and not has_errors(diags):
        note = ""
        if hidden:
            note = f" (hidden files are not read: {', '.join(hidden)})"
        diags.append(
            _err(
                codes.NO_YAML_FILES,
                f"no configuration found: directory {target} holds no *.yaml or *.yml file{note}",
                str(target),
            )
        )
    return files


_MISSING = "does not exist"


def _not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as a configuration file; None for a regular file (or a
    symlink to one). Never opens the path, so a FIFO cannot block the load."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop"
        if path.is_symlink():
            try:
                link = os.readlink(path)
            except OSError:
                link = "?"
            return f"is a symbolic link to {link}, which does not exist"
        if exc.errno == errno.ENOENT:
            return _MISSING
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO)"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device or socket)"
    return None


def _load_file(path: Path, diags: list[Diagnostic]) -> tuple[dict[str, Any], SourceMap] | None:
    """Read, parse and build one file; None (with diagnostics) when it cannot be used."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            diags.append(
                _err(
                    codes.FILE_TOO_LARGE,
                    f"file is {size / 1024 / 1024:.1f} MB; configuration files are limited to "
                    f"{MAX_FILE_BYTES // 1024 // 1024} MB and this one was not parsed",
                    name, 1, 1,
                )
            )
            return None
        data = path.read_bytes()
    except OSError as exc:
        diags.append(_err(codes.PATH_NOT_FOUND, f"cannot read file: {exc.strerror}", name, 1, 1))
        return None

    nul = data.find(b"\x00")
    if nul >= 0:
        line, col = _line_col(data, nul)
        diags.append(
            _err(codes.BINARY_FILE, "binary file: contains a NUL byte; expected UTF-8 YAML text",
                 name, line, col)
        )
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line, col = _line_col(data, offset)
        diags.append(
            _err(codes.BINARY_FILE, f"not valid UTF-8 (byte 0x{data[offset]:02x}); expected UTF-8 "
                 "YAML text", name, line, col)
        )
        return None

    key = hashlib.sha256(data).digest() if _reuse is not None else b""
    if _reuse is not None and key in _reuse:
        blob, positions = _reuse[key]
        return marshal.loads(blob), SourceMap.unpack(marshal.loads(positions), name)
    before = len(diags)
    node = _parse(text, name, diags)
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode):
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL and node.value in ("", "~", "null"):
            # An empty file (or one holding only comments) contributes nothing.
            return {}, SourceMap()
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        diags.append(
            _err(codes.TOP_LEVEL_NOT_MAPPING,
                 f"the top level of a configuration file must be a mapping (key: value), not {kind}",
                 name, line, col)
        )
        return None
    source = SourceMap()
    builder = _Builder(name, source, diags)
    value = builder.build(node, ())
    if builder.failed:
        return None
    assert isinstance(value, dict)
    if _reuse is not None and len(diags) == before:
        # Later stages merge into the data: the cache keeps a copy of its own, serialised
        # (a fraction of the memory of the objects, and loaded back in C).
        _reuse[key] = (marshal.dumps(value), marshal.dumps(source.pack()))
    return value, source


# Parses kept by content (sha256 of the bytes) while `reusing_parses()` is active: `diff
# --base` loads two sides whose files are mostly byte-identical.
_reuse: dict[bytes, tuple[bytes, bytes]] | None = None


@contextlib.contextmanager
def reusing_parses() -> Iterator[None]:
    """Within this block, a file whose bytes were already parsed cleanly (no diagnostic) is
    not parsed again: its data is copied and its positions are given the new file name."""
    global _reuse
    previous = _reuse
    _reuse = {} if previous is None else previous
    try:
        yield
    finally:
        _reuse = previous


def _parse(text: str, name: str, diags: list[Diagnostic]) -> yaml.Node | None:
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        tab = _tab_in_indentation(text, line)
        if tab is not None:
            diags.append(
                _err(codes.TAB_INDENTATION,
                     "tab character used for indentation; YAML indents with spaces only",
                     name, tab[0], tab[1])
            )
            return None
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        if "expected a single document" in str(exc):
            diags.append(_err(codes.UNSUPPORTED_YAML,
                              "a configuration file holds one YAML document; found a second '---'",
                              name, line, col))
            return None
        diags.append(_err(codes.YAML_SYNTAX, f"YAML syntax error: {problem}{context}".rstrip(),
                          name, line, col))
        return None
    except yaml.YAMLError as exc:
        diags.append(_err(codes.YAML_SYNTAX, f"YAML error: {exc}", name, 1, 1))
        return None
    except RecursionError:
        diags.append(_err(codes.UNSUPPORTED_YAML, "YAML nesting is too deep", name, 1, 1))
        return None
    if node is None:
        return yaml.ScalarNode(_NULL, "")
    return node


_TAB_RE = re.compile(r"^[ ]*\t", re.MULTILINE)


def _tab_in_indentation(text: str, error_line: int) -> tuple[int, int] | None:
    """(line, column) of the first tab in leading whitespace at or before `error_line`."""
    for m in _TAB_RE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if line > error_line:
            return None
        return line, m.end() - m.start()
    return None


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


# --------------------------------------------------------------------------- YAML → data


class _Builder:
    """Builds plain data from a composed YAML node tree, recording every position.

    PyYAML's own constructor keeps the last of two duplicate keys silently and expands aliases
    without bound; this one reports duplicates and counts alias expansion.
    """

    def __init__(self, file: str, source: SourceMap, diags: list[Diagnostic]) -> None:
        self.file = file
        self.source = source
        self.diags = diags
        self.failed = False
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.expanded = 0

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(self, code: str, message: str, node: yaml.Node, path: YamlPath) -> None:
        loc = self.loc(node)
        self.diags.append(
            Diagnostic(Severity.ERROR, code, message, loc.file, loc.line, loc.column, path)
        )
        self.failed = True

    def build(self, node: yaml.Node, path: YamlPath, aliased: bool = False) -> Any:
        if self.failed:
            return None
        if len(path) > MAX_DEPTH:
            self.fail(codes.UNSUPPORTED_YAML, f"nesting deeper than {MAX_DEPTH} levels", node, path)
            return None
        if isinstance(node, yaml.ScalarNode):
            if aliased:
                self._count_expansion(node, path)
            return self.scalar(node, path)
        key = id(node)
        if key in self.active:
            self.fail(codes.ALIAS_LIMIT, "recursive YAML alias: a node contains itself", node, path)
            return None
        # A collection node reached a second time can only be an alias; count what it expands to.
        aliased = aliased or key in self.seen
        if aliased:
            self._count_expansion(node, path)
            if self.failed:
                return None
        self.seen.add(key)
        self.active.add(key)
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path, aliased)
            assert isinstance(node, yaml.SequenceNode)
            if node.tag != _SEQ:
                self.fail(codes.UNSUPPORTED_YAML, f"unsupported YAML tag {_short_tag(node.tag)}", node, path)
                return None
            out = []
            for i, item in enumerate(node.value):
                self.source.add((*path, i), self.loc(item))
                out.append(self.build(item, (*path, i), aliased))
            return out
        finally:
            self.active.discard(key)

    def _count_expansion(self, node: yaml.Node, path: YamlPath) -> None:
        self.expanded += 1
        if self.expanded > MAX_ALIAS_EXPANSION and not self.failed:
            self.fail(
                codes.ALIAS_LIMIT,
                f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} nodes (alias bomb?); "
                "refusing to expand further",
                node, path,
            )

    def mapping(self, node: yaml.MappingNode, path: YamlPath, aliased: bool) -> dict[str, Any]:
        if node.tag != _MAP:
            self.fail(codes.UNSUPPORTED_YAML, f"unsupported YAML tag {_short_tag(node.tag)}", node, path)
            return {}
        out: dict[str, Any] = {}
        merged: list[yaml.Node] = []
        file = self.file
        keys, values = self.source.keys, self.source.values
        # A plain string value is taken as it is, without a call to build() (which would
        # return its text): most values of a large configuration are names.
        plain = not aliased and len(path) < MAX_DEPTH
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _MERGE:
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(codes.UNSUPPORTED_YAML, "mapping keys must be plain strings",
                          key_node, path)
                return out
            # Keys are names: take their text even when YAML would read them as numbers or
            # booleans (a model key such as `8b` or `on` stays a string).
            key = key_node.value
            child = (*path, key)
            if key in out:   # `out` holds exactly the keys seen so far
                prev = next(k for k, _ in node.value
                            if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE
                            and k.value == key).start_mark
                self.fail(
                    codes.DUPLICATE_KEY,
                    f"duplicate key '{key}': already defined at line {prev.line + 1}, "
                    f"column {prev.column + 1}",
                    key_node, child,
                )
                continue
            mark = value_node.start_mark
            values[child] = Location(file, mark.line + 1, mark.column + 1)
            mark = key_node.start_mark
            keys[child] = Location(file, mark.line + 1, mark.column + 1)
            if plain and value_node.tag == _STR and not self.failed and isinstance(
                    value_node, yaml.ScalarNode):
                out[key] = value_node.value
            else:
                out[key] = self.build(value_node, child, aliased)
        # YAML merge keys (`<<: *defaults`): explicit keys win over merged ones.
        for merge_node in merged:
            sources = merge_node.value if isinstance(merge_node, yaml.SequenceNode) else [merge_node]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    self.fail(codes.UNSUPPORTED_YAML, "'<<' merges only mappings", src, path)
                    return out
                value = self.build(src, path, True)
                if isinstance(value, dict):
                    for k, v in value.items():
                        out.setdefault(k, v)
        return out

    def scalar(self, node: yaml.ScalarNode, path: YamlPath) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag in (_INT, _FLOAT):
            return self.number(node, path)
        if tag in (_BOOL, _NULL):
            return _constructor.yaml_constructors[tag](_constructor, node)
        if tag == _TIMESTAMP:
            # Dates stay text: the configuration is JSON data (schema, digest, plan files).
            return node.value
        self.fail(codes.UNSUPPORTED_YAML, f"unsupported YAML tag {_short_tag(tag)}", node, path)
        return None

    def number(self, node: yaml.ScalarNode, path: YamlPath) -> Any:
        """An int or float, refusing what YAML 1.1 reads differently than a person does
        (`83:20:00` is 300000, `010` is 8) and what no field can hold (a 5,000-digit integer
        would even make Python's int() raise; infinities and NaN are not JSON)."""
        text = node.value
        if (node.tag == _INT and len(text) <= 18 and text.isascii() and text.isdigit()
                and (text[0] != "0" or text == "0")):
            return int(text)   # plain decimal (most numbers): nothing below can object
        digits = text.lstrip("+-")
        if ":" in digits:
            self.fail(
                codes.YAML11_NUMBER,
                f"{text} is read by YAML 1.1 as a base-60 number "
                f"({_constructor.yaml_constructors[node.tag](_constructor, node)}), not as written; "
                f'quote it ("{text}") if it is text, or write the number in decimal',
                node, path,
            )
            return None
        if node.tag == _INT and _OCTAL_RE.match(digits):
            plain = digits.replace("_", "").lstrip("0") or "0"
            self.fail(
                codes.YAML11_NUMBER,
                f"{text} is read by YAML 1.1 as the octal number "
                f"{_constructor.yaml_constructors[node.tag](_constructor, node)}, not {plain}; "
                f'write {plain} without the leading zero, or quote it ("{text}") if it is text',
                node, path,
            )
            return None
        if len(digits) > _MAX_NUMBER_CHARS:
            self.fail(
                codes.NUMBER_OUT_OF_RANGE,
                f"number with {len(digits)} characters is out of range (integers are limited "
                "to 64 bits)",
                node, path,
            )
            return None
        value = _constructor.yaml_constructors[node.tag](_constructor, node)
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            self.fail(codes.NUMBER_OUT_OF_RANGE,
                      f"{text} is out of range: integers are limited to 64 bits", node, path)
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(codes.NUMBER_OUT_OF_RANGE,
                      f"{text} is not a finite number", node, path)
            return None
        return value


# --------------------------------------------------------------------------- merge


def _merge(
    documents: list[tuple[Path, dict[str, Any], SourceMap]],
    source: SourceMap,
    diags: list[Diagnostic],
) -> dict[str, Any]:
    """Merge per-file data: sections by entry, other top-level keys at most once."""
    raw: dict[str, Any] = {}
    for _path, doc, fmap in documents:
        # Subtrees of this file that lose to an earlier file: their positions are not copied.
        rejected: set[YamlPath] = set()
        # Paths kept at their first file's position (a section key seen again).
        keep_first: set[YamlPath] = set()
        for key, value in doc.items():
            top: YamlPath = (key,)
            if key not in raw:
                raw[key] = value
                continue
            if key in MERGED_SECTIONS and isinstance(raw[key], dict) and isinstance(value, dict):
                for entry, entry_value in value.items():
                    sub = (key, entry)
                    if entry in raw[key]:
                        diags.append(_duplicate_across(sub, source.keys.get(sub), fmap.keys.get(sub)))
                        rejected.add(sub)
                    else:
                        raw[key][entry] = entry_value
                keep_first.add(top)
                continue
            diags.append(_duplicate_across(top, source.keys.get(top), fmap.keys.get(top)))
            rejected.add(top)

        if not rejected:
            # The common case: every position of this file is taken except those of the
            # section keys an earlier file defined first (one bulk update, then put back).
            for mine, theirs in ((source.values, fmap.values), (source.keys, fmap.keys)):
                first = {p: mine[p] for p in keep_first if p in mine}
                mine.update(theirs)
                for p in keep_first:
                    if p in first:
                        mine[p] = first[p]
                    else:
                        mine.pop(p, None)
            continue

        def accepted(p: YamlPath, rejected: set[YamlPath] = rejected,
                     keep_first: set[YamlPath] = keep_first) -> bool:
            return p not in keep_first and p[:1] not in rejected and p[:2] not in rejected

        for p, loc in fmap.values.items():
            if accepted(p):
                source.values[p] = loc
        for p, loc in fmap.keys.items():
            if accepted(p):
                source.keys[p] = loc
    return raw


def _duplicate_across(path: YamlPath, first: Location | None, second: Location | None) -> Diagnostic:
    where = f"{first.file}:{first.line}:{first.column}" if first else "another file"
    here = second or first
    what = format_path(path)
    return Diagnostic(
        Severity.ERROR, codes.DUPLICATE_ACROSS_FILES,
        f"'{what}' is defined in two files: first at {where}, again here; "
        "define it in one file only",
        here.file if here else None, here.line if here else None,
        here.column if here else None, path,
    )


# --------------------------------------------------------------------------- env refs, secrets

# Key names that hold credentials; `_env` suffixed keys name variables and are checked apart.
_SECRET_KEY_RE = re.compile(
    r"(^|[_-])(api[_-]?key|apikey|token|access[_-]?key|secret|password|passwd|credentials?)$",
    re.IGNORECASE,
)
_SECRET_PREFIXES = ("sk-", "sk_", "pk_", "rk_", "ghp_", "gho_", "github_pat_", "glpat-", "xoxb-",
                    "xoxp-", "AKIA", "eyJ", "hf_", "Bearer ")
_UPPER_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Whether a key name holds credentials (`_SECRET_KEY_RE`); the same few names recur on
    every entry of a large configuration."""
    return _SECRET_KEY_RE.search(key) is not None


def looks_like_secret(value: str) -> bool:
    """Heuristic: does `value` look like a credential rather than an environment variable name?"""
    if value.startswith(_SECRET_PREFIXES):
        return True
    if _UPPER_ENV_NAME.match(value):
        return False
    if len(value) >= 16 and not _ENV_NAME.match(value):
        return True  # punctuation such as - . / + = in a long string: a token, not a name
    if len(value) >= 20:
        digits = sum(c.isdigit() for c in value)
        has_lower = any(c.islower() for c in value)
        has_upper = any(c.isupper() for c in value)
        if digits >= 3 and (has_lower or has_upper) and "_" not in value:
            return True
        if has_lower and has_upper and digits >= 1:
            return True
    return False


def _check_env_refs_and_secrets(raw: dict[str, Any], source: SourceMap) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    def worth_a_look(key: Any, text: str) -> bool:
        return "${" in text or (isinstance(key, str) and _secret_key(key))

    for path, text in envref.strings_where(raw, worth_a_look):
        if "${" in text:
            if envref.malformed(text):
                diags.append(source.diagnostic(
                    Severity.ERROR, codes.ENV_REF_MALFORMED,
                    "malformed environment reference: write ${env:NAME} with NAME a variable name "
                    "(letters, digits, underscore)", path, value=True))
            elif not envref.is_allowed_path(path):
                diags.append(source.diagnostic(
                    Severity.ERROR, codes.ENV_REF_NOT_ALLOWED,
                    "${env:NAME} is only allowed in platform.base_url and in job args",
                    path, value=True))
        key = path[-1] if path else ""
        if (
            isinstance(key, str)
            and _secret_key(key)
            and text.strip()
            and not envref.is_template(text)
        ):
            diags.append(source.diagnostic(
                Severity.ERROR, codes.LITERAL_SECRET,
                f"'{key}' holds a literal secret; put it in an environment variable and reference "
                "it as ${env:NAME} (allowed in job args), so it never lands in git, state or plans",
                path, value=True))

    state = raw.get("state")
    dsn_env = state.get("dsn_env") if isinstance(state, dict) else None
    if isinstance(dsn_env, str) and ("://" in dsn_env or "=" in dsn_env or looks_like_secret(dsn_env)):
        diags.append(source.diagnostic(
            Severity.ERROR, codes.LITERAL_SECRET,
            "state.dsn_env looks like a literal database DSN; put the DSN in an environment "
            "variable and write its NAME here (e.g. dsn_env: ADAPTIVE_DEPLOY_STATE_DSN)",
            ("state", "dsn_env"), value=True))

    platform = raw.get("platform")
    if isinstance(platform, dict):
        key_env = platform.get("api_key_env")
        if isinstance(key_env, str):
            path = ("platform", "api_key_env")
            if looks_like_secret(key_env):
                diags.append(source.diagnostic(
                    Severity.ERROR, codes.LITERAL_API_KEY,
                    "platform.api_key_env looks like a literal API key; put the key in an "
                    "environment variable (e.g. export ADAPTIVE_API_KEY=...) and write its NAME "
                    "here: api_key_env: ADAPTIVE_API_KEY", path, value=True))
            elif not _ENV_NAME.match(key_env):
                diags.append(source.diagnostic(
                    Severity.ERROR, codes.LITERAL_API_KEY,
                    "platform.api_key_env must be the NAME of an environment variable "
                    "(letters, digits, underscore; e.g. ADAPTIVE_API_KEY)", path, value=True))
    return diags


# --------------------------------------------------------------------------- JSON Schema

_JSON_TYPES = {
    dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
    float: "number", type(None): "null",
}
_RANGE_WORDS = {
    "minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<",
}
# Values never echoed in messages: they name credentials, or may be one by mistake.
_QUIET_PATHS = {("platform", "api_key_env"), ("state", "dsn_env")}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _paths_of(diags: Iterable[Diagnostic]) -> set[YamlPath]:
    return {d.path for d in diags}


def _show(value: Any, path: YamlPath) -> str:
    quiet = path in _QUIET_PATHS or (bool(path) and _SECRET_KEY_RE.search(str(path[-1])))
    if quiet and isinstance(value, str):
        return "the given string"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_schema(
    raw: dict[str, Any], source: SourceMap, skip: set[YamlPath], *, workspace: bool = True
) -> list[Diagnostic]:
    from adaptive_deploy.config.schema import quick_check, validator

    if quick_check(workspace=workspace)(raw):
        return []  # certainly valid: jsonschema would report nothing
    out: list[Diagnostic] = []
    seen: set[tuple[str, YamlPath]] = set()
    for err in validator(workspace=workspace).iter_errors(raw):
        for d in _map_schema_error(err, source):
            if d.path in skip or (d.code, d.path) in seen:
                continue
            seen.add((d.code, d.path))
            out.append(d)
    return out


def _map_schema_error(err: SchemaError, source: SourceMap) -> Iterator[Diagnostic]:
    """Located diagnostics for one schema error (also accepts jsonschema's ValidationError)."""
    path: YamlPath = tuple(err.absolute_path)
    kind = err.validator
    inst: Any = err.instance
    value_of: Any = err.validator_value
    schema = err.schema if isinstance(err.schema, dict) else {}
    # The message names the key; the full YAML path follows it in every output format.
    where = str(path[-1]) if path else "the top level"

    def diag(code: str, message: str, at: YamlPath = path, value: bool = True) -> Diagnostic:
        return source.diagnostic(Severity.ERROR, code, message, at, value=value)

    if "propertyNames" in err.schema_path:
        # A key of projects / models / deployments / jobs / compute_pools: it becomes part of
        # a resource address (deployment.<project>/<model>), located at the key itself.
        yield diag(codes.PATTERN_MISMATCH,
                   f"key {_show(inst, path)} in '{where}' cannot name a resource: keys start "
                   "with a letter or digit and hold only letters, digits, '.', '_' and '-'",
                   (*path, inst), value=False)
    elif inst is None and kind not in ("required", "additionalProperties"):
        yield diag(codes.EXPLICIT_NULL,
                   f"'{where}' is null; leave the key out to leave the field unmanaged")
    elif kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extras = [k for k in inst if k not in schema.get("properties", {})]
        for extra in extras:
            hint = difflib.get_close_matches(str(extra), allowed, n=1, cutoff=0.6)
            msg = f"unknown key '{extra}'"
            if hint:
                msg += f"; did you mean '{hint[0]}'?"
            elif allowed:
                msg += f" (allowed: {', '.join(allowed)})"
            yield diag(codes.UNKNOWN_KEY, msg, (*path, extra), value=False)
    elif kind == "required":
        for name in value_of:
            if isinstance(inst, dict) and name not in inst:
                yield diag(codes.MISSING_REQUIRED, f"missing required key '{name}'", value=False)
    elif kind == "type":
        expected = err.validator_value
        expected_text = " or ".join(expected) if isinstance(expected, list) else str(expected)
        yield diag(codes.WRONG_TYPE,
                   f"'{where}' must be {_article(expected_text)}, got {_json_type(inst)} "
                   f"{_show(inst, path)}")
    elif kind in _RANGE_WORDS:
        yield diag(codes.OUT_OF_RANGE,
                   f"'{where}' must be {_RANGE_WORDS[kind]} {err.validator_value}, got {_show(inst, path)}")
    elif kind in ("minItems", "maxItems", "minLength", "maxLength", "minProperties",
                  "maxProperties"):
        bound = "at least" if kind.startswith("min") else "at most"
        unit = "items" if "Items" in kind else "characters" if "Length" in kind else "keys"
        if value_of == 1:
            unit = unit.removesuffix("s").replace("characte", "character")
        yield diag(codes.OUT_OF_RANGE, f"'{where}' must have {bound} {value_of} {unit}")
    elif kind == "pattern":
        yield diag(codes.PATTERN_MISMATCH,
                   f"'{where}' {_show(inst, path)} does not match the pattern "
                   f"{err.validator_value}")
    elif kind in ("enum", "const"):
        allowed_values = value_of if kind == "enum" else [value_of]
        if path == ("version",):
            yield diag(codes.UNSUPPORTED_VERSION,
                       f"unsupported configuration version {_show(inst, path)}; this tool reads "
                       "version: 1")
        else:
            shown = ", ".join(json.dumps(v) for v in allowed_values)
            yield diag(codes.NOT_ALLOWED_VALUE,
                       f"'{where}' is {_show(inst, path)}; allowed: {shown}")
    elif kind in ("anyOf", "oneOf"):
        yield from _map_alternatives(err, source, path, where)
    else:
        yield diag(codes.SCHEMA_VIOLATION, f"'{where}': {err.message}")


def _map_alternatives(
    err: SchemaError, source: SourceMap, path: YamlPath, where: str
) -> Iterator[Diagnostic]:
    """anyOf (e.g. architecture: name or inline mapping): report the branch of the right type."""
    inst_type = _json_type(err.instance)
    branches: dict[int, list[SchemaError]] = {}
    for sub in err.context or []:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    types: list[str] = []
    options: Any = err.validator_value
    for index, option in enumerate(options):
        option_type = option.get("type") if isinstance(option, dict) else None
        if option_type is None and isinstance(option, dict) and "$ref" in option:
            option_type = "object"
        if option_type:
            types.append(str(option_type))
        matches = option_type == inst_type or (option_type == "number" and inst_type == "integer")
        if matches and index in branches:
            for sub in branches[index]:
                yield from _map_schema_error(sub, source)
            return
    expected = " or ".join(types) if types else "a different value"
    yield source.diagnostic(
        Severity.ERROR, codes.WRONG_TYPE,
        f"'{where}' must be {_article(expected)}, got {inst_type}", path, value=True)


def _article(type_text: str) -> str:
    return ("an " if type_text[:1] in "aeiou" else "a ") + type_text


# --------------------------------------------------------------------------- pydantic

_PYDANTIC_CODES = {
    "missing": codes.MISSING_REQUIRED,
    "extra_forbidden": codes.UNKNOWN_KEY,
    "greater_than": codes.OUT_OF_RANGE,
    "greater_than_equal": codes.OUT_OF_RANGE,
    "less_than": codes.OUT_OF_RANGE,
    "less_than_equal": codes.OUT_OF_RANGE,
    "too_short": codes.OUT_OF_RANGE,
    "too_long": codes.OUT_OF_RANGE,
    "string_pattern_mismatch": codes.PATTERN_MISMATCH,
    "literal_error": codes.NOT_ALLOWED_VALUE,
    "enum": codes.NOT_ALLOWED_VALUE,
}


def _build_workspace(
    raw: dict[str, Any], source: SourceMap
) -> tuple[Workspace | None, list[Diagnostic]]:
    from pydantic import ValidationError as PydanticError

    from adaptive_deploy.config.models import Workspace

    try:
        return Workspace.model_validate(raw), []
    except PydanticError as exc:
        out = []
        for e in exc.errors(include_url=False, include_input=False):
            path = _normalize_loc(raw, e["loc"])
            etype = e["type"]
            code = _PYDANTIC_CODES.get(etype)
            if code is None:
                code = codes.WRONG_TYPE if etype.endswith(("_type", "_parsing")) else codes.INVALID_VALUE
            # pydantic prefixes custom validator messages with "Value error, ".
            msg = str(e["msg"]).removeprefix("Value error, ")
            where = str(path[-1]) if path else "the top level"
            out.append(source.diagnostic(Severity.ERROR, code, f"'{where}': {msg}", path,
                                         value=code != codes.UNKNOWN_KEY))
        return None, out


def _normalize_loc(raw: Any, loc: tuple[int | str, ...]) -> YamlPath:
    """Drop the union-member names pydantic inserts into error locations."""
    out: list[str | int] = []
    node = raw
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if present:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and "[" not in part and not (
            part[:1].isupper()
        ):
            out.append(part)  # a missing key: named in the path, located at its parent
            node = None
    return tuple(out)


def _err(
    code: str, message: str, file: str | None, line: int | None = None, column: int | None = None
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, file, line, column, ())
