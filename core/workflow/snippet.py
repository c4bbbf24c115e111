"""A finding's snippet: the start of its text and, when the text runs past what a snippet holds,
the paragraph that brings the question's missing terms (a query-biased snippet, as search
engines show one).

The summary is written from snippets, and the page shows them: for "How do I wait for the first
of several tasks to finish?" the first 600 characters of ``asyncio.wait`` are its signature and
usage, while ``FIRST_COMPLETED: The function will return when any future finishes`` comes much
later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.sources.text import paragraphs, stem

GAP = "…"
"""The paragraph between the start and the part brought in, shown where text was left out."""


_WORD = re.compile(r"[a-z]+")  # on lower-cased text: FIRST_COMPLETED gives "first", "completed"


def _stems(text: str) -> set[str]:
    """Stems of the words of ``text``, each distinct word stemmed once (and remembered)."""
    return {stem(w) for w in set(_WORD.findall(text.lower()))}


def snippet(text: str, terms: Iterable[str], limit: int) -> str:
    """``text`` cut to ``limit`` characters; when a paragraph past the cut holds question terms
    that the cut leaves out, the start is shortened to make room for it after a ``GAP``.

    >>> pad = "Padding words. " * 8
    >>> text = f"wait(fs)\\n\\nWait for the tasks.\\n\\n{pad}\\n\\nFIRST: return when one finishes."
    >>> snippet(text, ["wait", "first", "finish"], 80)
    'wait(fs)\\n\\nWait for the tasks.\\n\\n…\\n\\nFIRST: return when one finishes.'
    >>> snippet(text, ["padding"], 40)
    'wait(fs)\\n\\nWait for the tasks.\\n\\nPadding w'
    """
    if len(text) <= limit:
        return text
    want = _stems(" ".join(terms))
    missing = want - _stems(text[:limit]) if want else want
    if not missing:
        return text[:limit]
    paras = paragraphs(text)
    best, gain = None, 0
    used = 0
    for i, para in enumerate(paras):
        start, used = used, used + len(para) + 2
        if start < limit:
            continue  # in the plain cut, whole or in part
        g = len(missing & _stems(para))
        if g > gain:
            best, gain = i, g
    if best is None:
        return text[:limit]
    tail = paras[best][: limit // 2]
    room = limit - len(tail) - len(GAP) - 4
    head: list[str] = []
    for para in paras[:best]:
        if sum(len(p) + 2 for p in head) + len(para) > room:
            break
        head.append(para)
    if not head:  # the first paragraph alone is too long: keep its start
        head = [paras[0][: max(0, room)]]
    return "\n\n".join([*map(_closed, head), GAP, _closed(tail)])


def _closed(part: str) -> str:
    """A part cut inside a code block, with the block closed (it renders as code, and the next
    part's block is not read as its end)."""
    return f"{part}\n```" if part.count("```") % 2 else part
