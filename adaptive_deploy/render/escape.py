"""Escaping for everything the tool prints: terminal text and GitHub-flavoured Markdown.

Values in a plan, a drift report or a diff come from users' files and from the platform
(names, descriptions, keys of unmanaged objects, error messages the platform returns). None of
them may change the shape of the output:

- **Text** (`text`, `quote`, `block`): control characters are shown as escapes (`\\n`,
  `\\x1b`, `\\u202e`), so a value cannot start a new line that fakes `No changes.`, move the
  cursor, set the window title (OSC) or reorder a line with bidi overrides.
- **Markdown** (`md_text`, `md_code`, `md_fence`, `md_html`): a value cannot close a code span
  or a fenced block, end a table cell or row, start a heading or list, or inject HTML (an HTML
  comment would forge the sticky-comment marker; a `<details>` would hide content).

Every renderer goes through these functions; `tests/render/test_injection.py` is the corpus.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the invisible format characters that change how a line
# reads: line/paragraph separators, bidi embeddings/overrides/isolates, zero-width marks.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b"}


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text(value: object) -> str:
    """One line of terminal text: every control or invisible formatting character escaped."""
    return _CONTROL.sub(_escape_char, str(value))


def block(value: object) -> str:
    """Multi-line terminal text written by the tool itself (an error message): the line breaks
    stay, every other control character is escaped."""
    return "\n".join(text(line) for line in str(value).split("\n"))


def quote(value: str) -> str:
    """A string value as plans show it: double-quoted, backslash and quote escaped, controls
    shown as escapes."""
    return '"' + text(value.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def has_control(value: str) -> bool:
    """True when `value` holds a character `text` would escape."""
    return bool(_CONTROL.search(value))


# -- Markdown -------------------------------------------------------------------------------

# Characters with a meaning in CommonMark/GFM inline syntax anywhere in a line (emphasis,
# code, links, HTML, entities, strikethrough, table cells, GitHub math), escaped with `\`.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>|&~$@])")
# Block syntax only counts at the start of a line: headings, quotes, lists, thematic breaks.
_MD_LEADING = re.compile(r"^([#>+=-])|^(\d+)([.)])")


def md_text(value: object) -> str:
    """A value as plain Markdown text, safe anywhere inline, in a table cell and after a list
    marker: one line; emphasis, code, link, HTML, entity, math and cell-break characters
    backslash-escaped; a leading block marker escaped; no autolink (`www.`, `://`)."""
    out = _MD_INLINE.sub(r"\\\1", text(value))
    out = _MD_LEADING.sub(lambda m: "\\" + m.group(1) if m.group(1)
                          else m.group(2) + "\\" + m.group(3), out)
    return re.sub(r"(?i)(www)\.|:(?=//)", lambda m: "www\\." if m.group(1) else "\\:", out)


def md_code(value: object) -> str:
    """A value as an inline code span, safe in a table cell: one line, fenced by more
    backticks than any run it contains, pipes escaped (GFM splits cells before code spans)."""
    body = text(value).replace("|", "\\|")
    if not body:
        return ""
    run = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * (run + 1)
    pad = " " if run or body.startswith(" ") or body.endswith(" ") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md_fence(lines: list[str], info: str = "") -> str:
    """A fenced code block holding `lines` (each escaped to one line): the fence is longer
    than any backtick run inside, so no line can close it."""
    body = [text(line) for line in lines]
    run = max((len(m) for line in body for m in re.findall(r"`{3,}", line)), default=0)
    fence = "`" * max(3, run + 1)
    return "\n".join([fence + info, *body, fence])


def md_html(value: object) -> str:
    """A value inside raw HTML (`<summary>`, `<code>`): one line, HTML-escaped, and no
    Markdown left to interpret."""
    out = text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace('"', "&quot;").replace("`", "&#96;").replace("|", "&#124;")
    return out.replace("*", "&#42;").replace("_", "&#95;").replace("[", "&#91;")
