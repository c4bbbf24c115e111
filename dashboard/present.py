"""Pure text/table shaping for the pages (no Streamlit, no engine): citations, rows, labels."""

from __future__ import annotations

import re
from typing import Any

_CITE = re.compile(r"\[(\d+)\]")
_MD_SPECIAL = re.compile(r"([\\`*_{}<>#|~$])")


def finding_anchor(n: int) -> str:
    """The HTML anchor of finding ``n`` (1-based)."""
    return f"finding-{n}"


def escape_md(text: str) -> str:
    """Escape Markdown so source text (docstrings, ``__dunder__`` names) shows literally."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def linked_summary(summary: str, n_findings: int) -> str:
    """The summary as Markdown with each valid ``[n]`` linking to its finding's anchor.

    >>> "](#finding-1)" in linked_summary("Use gather [1].", 1)
    True
    """
    text = escape_md(summary)

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return f"[\\[{n}\\]](#{finding_anchor(n)})" if 1 <= n <= n_findings else m.group(0)

    return _CITE.sub(link, text)


def node_rows(timings: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "node": t.node,
            "start_ms": round(t.start_s * 1000, 2),
            "duration_ms": round(t.duration_s * 1000, 2),
            "cache_hit": t.cache_hit,
        }
        for t in timings
    ]


def settings_rows(modes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"setting": k, "value": "off" if v is None else str(v)} for k, v in modes.items()]
