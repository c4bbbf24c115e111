"""Merging the sources' hits into one shortlist: one finding per text, wherever else it appears.

The same text is often indexed more than once: a package's README and the same file in the docs
folder, a class's method and the mixin that defines it, a function re-exported under two names.
Two hits are the same finding when their openings (first ``OPENING_WORDS`` words after any
``name(args)`` signature line) share most word 3-grams (Jaccard >= 0.5, or >= 80% of the shorter
one's); the better-scored one stays and lists the other's location in ``also_in``. The signature
is left out because it is not the text: sibling methods share long signatures (``match`` and
``fullmatch``) without being the same finding, and a re-exported function's docstring is the same
text under another signature. ``bench/quality.py`` counts duplicates with this same rule.

Comparing every pair would cost more than the search, so each opening is sketched by a few
content-defined anchors (6-word windows starting at words picked by their own letters;
shifting the text by a heading or a signature line does not move them), and only hits sharing an
anchor are compared.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from core.sources.text import strip_signature

OPENING_WORDS = 48
ANCHOR_EVERY = 4
ANCHOR_SCAN = 30
SHORT_WORDS = 12
_WORD = re.compile(r"\w+")

Grams = frozenset[tuple[str, str, str]]


def _words(text: str) -> list[str]:
    # A signature rarely runs past 4,000 characters; ~8 characters a word is plenty after it.
    body = strip_signature(text[:4000])
    return _WORD.findall(body[: OPENING_WORDS * 8].lower())[:OPENING_WORDS]


def _grams(words: list[str]) -> Grams:
    return frozenset(zip(words, words[1:], words[2:], strict=False))


def opening(text: str) -> Grams:
    """The word 3-grams of a text's opening, what ``same_text`` compares."""
    return _grams(_words(text))


def _anchors(words: list[str]) -> frozenset[tuple[str, ...]]:
    found = {
        tuple(words[i : i + 6])
        for i in range(min(len(words), ANCHOR_SCAN) - 5)
        if (len(words[i]) + ord(words[i][0])) % ANCHOR_EVERY == 0
    }
    found.add(tuple(words[:3]))  # short texts (a one-line docstring) may have no other anchor
    if len(words) < SHORT_WORDS:  # ... nor one that a heading word in front would not shift
        found.update(tuple(words[i : i + 3]) for i in range(len(words) - 2))
    return frozenset(found)


@lru_cache(maxsize=8192)
def _sketch(text: str) -> tuple[frozenset[tuple[str, ...]], Grams]:
    """A text's anchors and opening 3-grams. Memoized: the same chunks come back run after run
    (a str caches its hash), and sketching them again was a tenth of an uncached run's CPU."""
    words = _words(text)
    return _anchors(words), _grams(words)


def same_text(a: Grams, b: Grams) -> bool:
    """Near-duplicate openings (see the module docstring)."""
    if not a or not b:
        return False
    common = len(a & b)
    return common / len(a | b) >= 0.5 or common / min(len(a), len(b)) >= 0.8


def may_merge(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two hits with the same text may be one finding. A later chunk of an API's docs
    (``doc_id`` ``location~n``) is often boilerplate every sibling shares (a framework's
    ``label : str ...`` parameter list): it is the same finding only under the same name
    (a mixin's method and its public alias); document sections and openings always merge.

    >>> a = {"doc_id": "m.A.slider~1", "location": "m.A.slider", "title": "m.slider"}
    >>> may_merge(a, {"doc_id": "m.B.toggle~1", "location": "m.B.toggle", "title": "m.toggle"})
    False
    """
    if not (_later(a) or _later(b)):
        return True
    ta, tb = str(a.get("title", "")), str(b.get("title", ""))
    if " " in ta or " " in tb:
        return True
    return ta.rsplit(".", 1)[-1] == tb.rsplit(".", 1)[-1]


def _later(h: dict[str, Any]) -> bool:
    return str(h.get("doc_id", "")).startswith(f"{h.get('location', '')}~")


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
    grams: list[Grams] = []
    owners: dict[tuple[str, ...], list[int]] = {}  # anchor -> kept hits having it
    for h in ranked:
        anchors, g = _sketch(str(h.get("text") or ""))
        near = sorted({j for a in anchors for j in owners.get(a, ())})
        twin = (
            next((kept[j] for j in near if same_text(g, grams[j]) and may_merge(h, kept[j])), None)
            if near
            else None
        )
        if twin is not None:
            if h["location"] != twin["location"] and h["location"] not in twin["also_in"]:
                twin["also_in"].append(h["location"])
            continue
        if len(kept) >= limit:
            continue  # still compared, so a duplicate of a kept hit is listed, not lost
        for a in anchors:
            owners.setdefault(a, []).append(len(kept))
        grams.append(g)
        kept.append({**h, "norm_score": float(h["score"]) / scale[h["source"]], "also_in": []})
    return kept
