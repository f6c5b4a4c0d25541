"""`${env:NAME}` templates: where they may appear, finding them, resolving them.

Values taken from the environment are sensitive: the configuration, its digest, state and plans
keep the template text, never the resolved value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from adaptive_deploy.config import codes
from adaptive_deploy.diagnostics import Severity, YamlPath, error
from adaptive_deploy.errors import ConfigError

if TYPE_CHECKING:
    from adaptive_deploy.config.sourcemap import SourceMap

TEMPLATE_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# Anything that opens like a template; used to catch typos such as ${ENV:X} or ${env:x-y}.
_OPENING_RE = re.compile(r"\$\{")


def is_template(value: Any) -> bool:
    """True when `value` is a string holding at least one well-formed `${env:NAME}`."""
    return isinstance(value, str) and TEMPLATE_RE.search(value) is not None


def is_allowed_path(path: YamlPath) -> bool:
    """Templates are allowed in `platform.base_url` and anywhere under `jobs.<name>.args`."""
    if tuple(path) == ("platform", "base_url"):
        return True
    return len(path) >= 3 and path[0] == "jobs" and path[2] == "args"


def malformed(value: str) -> bool:
    """True when `value` contains a `${` that is not a well-formed `${env:NAME}`."""
    return len(_OPENING_RE.findall(value)) != len(TEMPLATE_RE.findall(value))


def strings_where(
    value: Any, wanted: Callable[[Any, str], bool], path: YamlPath = ()
) -> list[tuple[YamlPath, str]]:
    """The string leaves under `value` for which `wanted(key, text)` holds, with their YAML
    paths, in document order. Paths are built for containers and matches only: most of a
    large configuration's strings need no check at all."""
    out: list[tuple[YamlPath, str]] = []
    _collect_where(value, path, wanted, out)
    return out


def _collect_where(value: Any, path: YamlPath, wanted: Callable[[Any, str], bool],
                   out: list[tuple[YamlPath, str]]) -> None:
    if isinstance(value, str):
        if wanted(path[-1] if path else "", value):
            out.append((path, value))
        return
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for k, v in items:
        if isinstance(v, str):
            if wanted(k, v):
                out.append(((*path, k), v))
        elif isinstance(v, dict | list):
            _collect_where(v, (*path, k), wanted, out)


def template_paths(raw: Any) -> list[YamlPath]:
    """Paths of every string holding a `${env:NAME}` template, in document order."""
    return [p for p, s in strings_where(raw, lambda _, text: "${" in text) if is_template(s)]


def resolve(
    value: Any,
    env: Mapping[str, str],
    *,
    path: YamlPath = (),
    source: SourceMap | None = None,
) -> Any:
    """Return `value` with every `${env:NAME}` replaced from `env` (recursing into lists and
    mappings). A variable missing from `env` raises ConfigError with a located diagnostic when
    `source` is given. The result is sensitive: never log or persist it.
    """
    if isinstance(value, dict):
        return {k: resolve(v, env, path=(*path, k), source=source) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, env, path=(*path, i), source=source) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    missing = [m.group(1) for m in TEMPLATE_RE.finditer(value) if m.group(1) not in env]
    if missing:
        msg = f"environment variable {missing[0]} is not set (referenced as ${{env:{missing[0]}}})"
        if source is not None:
            diag = source.diagnostic(Severity.ERROR, codes.ENV_VAR_UNSET, msg, path, value=True)
        else:
            diag = error(codes.ENV_VAR_UNSET, msg, path=tuple(path))
        raise ConfigError(msg, [diag])
    from adaptive_deploy import redaction

    resolved = TEMPLATE_RE.sub(lambda m: env[m.group(1)], value)
    # Sensitive from now on: every output of this process hides it (and each variable's value).
    for match in TEMPLATE_RE.finditer(value):
        redaction.register(env[match.group(1)])
    redaction.register(resolved if resolved != value else None)
    return resolved
