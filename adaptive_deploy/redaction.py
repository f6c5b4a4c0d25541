"""Secrets this process knows, and their removal from any text it shows.

A value is registered where it is read: the API key, the state DSN and its password,
`${env:NAME}` values (base URL, job args), credentials inside a base URL. `redact(text)`
replaces each registered secret with `***` — also in the forms it takes once escaped by
`repr()`, JSON, `bytes` reprs (h11's "Illegal header value b'...'") or URL quoting, and each
line of a secret holding a newline. The CLI passes every message, warning and (with --debug)
traceback through it; renderers pass values through it too.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import quote, urlsplit

REDACTED = "***"
# Shorter values would redact ordinary words; no credential is that short.
MIN_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: list[str] = []


def _forms(value: str) -> set[str]:
    forms = {value, value.strip()}
    forms.add(repr(value)[1:-1])
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(quote(value, safe=""))
    forms.add(quote(value, safe="/:@"))
    raw = value.encode("utf-8", "surrogateescape")
    forms.add(repr(raw)[2:-1])
    forms.add(raw.decode("latin-1"))
    for line in value.splitlines():
        if len(line.strip()) >= MIN_LENGTH:
            forms.add(line.strip())
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(value: str | None) -> None:
    """Remember `value` as a secret (and its escaped forms). Short or empty values are
    ignored."""
    if not value or len(value.strip()) < MIN_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        known = set(_ordered)
        for form in _forms(value):
            if form not in known:
                _ordered.append(form)
        # Longest first, so a secret containing another is replaced whole.
        _ordered.sort(key=len, reverse=True)


def register_url(url: str | None) -> None:
    """Register the credentials a URL may carry: user info, and query values."""
    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register(parts.password)
    if parts.username and parts.password:
        register(f"{parts.username}:{parts.password}")
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        register(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    if not _ordered or not text:
        return text
    with _lock:
        forms = list(_ordered)
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def known() -> bool:
    """Whether any secret is registered (tests)."""
    return bool(_ordered)


def clear() -> None:
    """Forget every secret (tests)."""
    with _lock:
        _secrets.clear()
        _ordered.clear()


__all__ = ["REDACTED", "clear", "redact", "register", "register_url"]
