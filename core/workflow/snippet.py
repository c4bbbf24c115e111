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
EXCERPT_LINES = 10
"""Lines of a code excerpt at most (the summary shows examples of up to 12)."""
GAP_LINE = "# …"
"""Lines of a code excerpt left out (a comment, so the excerpt still reads as code)."""


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
        code = _code_excerpt(paras[0], missing, limit) if paras and len(paras[0]) > limit else None
        return code or text[:limit]
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


def _code_excerpt(block: str, missing: set[str], limit: int) -> str | None:
    """A code block too long for the snippet, as its first line (an import, usually) and the lines
    that hold the missing terms (each with the line after it: a doctest's output), at most
    ``EXCERPT_LINES``, the rest marked ``# …``; or None when ``block`` is not one code block or no
    line has a missing term.

    >>> block = "```python\\nimport psutil\\np = psutil.Process()\\n" + "p.name()\\n" * 9
    >>> print(_code_excerpt(block + "p.cpu_percent()  # 12.1\\n```", {"cpu"}, 600))
    ```python
    import psutil
    # …
    p.cpu_percent()  # 12.1
    ```
    """
    lines = block.split("\n")
    if len(lines) < 4 or not lines[0].startswith("```") or lines[-1].strip() != "```":
        return None
    body = lines[1:-1]
    hits = [i for i, line in enumerate(body) if missing & _stems(line)]
    if not hits:
        return None
    keep = sorted({0} | {j for i in hits for j in (i, i + 1) if j < len(body)})
    out: list[str] = []
    size = len(lines[0]) + 4
    last = -1
    for j in keep:
        piece = ([GAP_LINE] if j > last + 1 else []) + [body[j]]
        if size + sum(len(x) + 1 for x in piece) > limit or len(out) + len(piece) > EXCERPT_LINES:
            break
        out += piece
        size += sum(len(x) + 1 for x in piece)
        last = j
    return "\n".join([lines[0], *out, "```"]) if last > 0 else None
