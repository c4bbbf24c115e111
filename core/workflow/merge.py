"""Merging the sources' hits into one shortlist: one finding per text, wherever else it appears.

The same text is often indexed more than once: a package's README and the same file in the docs
folder, a class's method and the mixin that defines it, a function re-exported under two names.
Two hits are the same finding when their openings share most word 3-grams (Jaccard >= 0.5, or
the shorter one's 3-grams lie >= 80% inside the other's); the better-scored one stays and lists
the other's location in ``also_in``.
"""

from __future__ import annotations

import re
from typing import Any

OPENING_WORDS = 80
_WORD = re.compile(r"\w+")


def _grams(text: str) -> frozenset[int]:
    words = _WORD.findall(text.lower())[:OPENING_WORDS]
    return frozenset(hash((words[i], words[i + 1], words[i + 2])) for i in range(len(words) - 2))


def same_text(a: frozenset[int], b: frozenset[int]) -> bool:
    """Near-duplicate openings (see the module docstring)."""
    if not a or not b:
        return False
    common = len(a & b)
    return common / len(a | b) >= 0.5 or common / min(len(a), len(b)) >= 0.8


def comparable(hits: list[dict[str, Any]]) -> dict[str, float]:
    """Per-source divisors: 1 for sources scoring on the shared [0, 1] scale, the source's best
    score for one that reports raw (unbounded) scores."""
    best: dict[str, float] = {}
    for h in hits:
        best[h["source"]] = max(best.get(h["source"], 0.0), float(h["score"]))
    return {s: (b if b > 1.0 else 1.0) for s, b in best.items()}


def shortlist(hits: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` best distinct hits across sources, best first, each with ``norm_score`` and
    ``also_in`` (locations of the near-duplicates merged into it).

    >>> a = {"source": "s", "score": 0.9, "location": "a", "text": "one two three four five six"}
    >>> b = {**a, "score": 0.5, "location": "b"}
    >>> [(h["location"], h["also_in"]) for h in shortlist([a, b], 5)]
    [('a', ['b'])]
    """
    scale = comparable(hits)
    ranked = sorted(hits, key=lambda h: -float(h["score"]) / scale[h["source"]])
    kept: list[dict[str, Any]] = []
    grams: list[frozenset[int]] = []
    owners: dict[int, list[int]] = {}  # 3-gram -> kept hits having it: compare only with those
    for h in ranked:
        g = _grams(str(h.get("text") or ""))
        shared: dict[int, int] = {}
        for x in g:
            for j in owners.get(x, ()):
                shared[j] = shared.get(j, 0) + 1
        twin = next((kept[j] for j in sorted(shared) if same_text(g, grams[j])), None)
        if twin is not None:
            if h["location"] != twin["location"] and h["location"] not in twin["also_in"]:
                twin["also_in"].append(h["location"])
            continue
        if len(kept) >= limit:
            continue  # still compared, so a duplicate of a kept hit is listed, not lost
        for x in g:
            owners.setdefault(x, []).append(len(kept))
        kept.append({**h, "norm_score": float(h["score"]) / scale[h["source"]], "also_in": []})
        grams.append(g)
    return kept
