"""Hybrid ranking: BM25 and embedding similarity fused with an API-aware prior, on one absolute scale.

Per chunk, at build time: the features of ``core.sources.signals`` (prior, name, lead,
anchor text, sibling contrast, namespace).

Per query: BM25 (``bm``, the score divided by the query's total IDF, so ~1 means every query term
matched once in an average-length chunk; unknown query words count against it), the cosine of the
query's and the chunk's embeddings (``sim``), the IDF-weighted share of query stems the name
contains (``name``) and the lead contains (``lead``), and the namespace match (``ns``: +d for a
member of a package or module the question names, -d for the rest, d being how distinctive that
name is in the corpus: ``tenacity`` ~0.8, ``random`` below ``NS_DISTINCT`` and so ignored),
and the IDF-weighted share of query stems in the anchor text (``anchor``); a candidate loses
``W_ACTION`` when the question says a sibling's word but not its own ("get the hostname":
``sethostname``; ``action_match``), the question's stop words kept for this ("get"); a data
attribute's or constant's own documentation loses ``W_DATA`` (``signal.SIGTERM`` matches "handle
a signal like SIGTERM" best, but what to call is ``signal.signal``; -0.04 to -0.15 left it first).
Candidates are the BM25 and the semantic top
lists; the score is a weighted blend plus the prior, in [0, 1], comparable across sources. The
weights are picked on the validate half of ``bench/quality.py``'s own set (reciprocal rank fusion
of the BM25 and semantic ranks scored lower there, and is not on an absolute scale).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.sources import terms
from core.sources.signals import Features, Namespaces, name_parts

W_BM, W_SEM, W_NAME, W_LEAD = 0.40, 0.35, 0.12, 0.08
W_NS, NS_DISTINCT = 0.03, 0.3
W_ANCHOR = 0.03
W_ACTION = 0.05
W_DATA = -0.20
NAME_CANDIDATES, NAME_SHARE, NAME_MAX_HITS = 10, 0.5, 300
"""10 or 20 candidates rank alike; a share of 0.4 let held-out drop (73 -> 68%), 0.6 drops tune."""
BM_CANDIDATES, SEM_CANDIDATES = 30, 15
W_SECOND = 0.15


def action_match(words: frozenset[str], contrast: Sequence[str]) -> float:
    """-1 when the question says a sibling's distinguishing word but not this API's (``get``
    for ``sethostname``), else 0; ``words`` are the question's stems, stop words included
    (``get``). A word matches a name word it begins (``read`` in ``reader``). Saying this API's
    own word earns nothing extra: the name match counts it already (a bonus scored lower on the
    bench: ``ExtractError`` for "extract files", ``BZ2Decompressor`` for "decompress").

    >>> said = frozenset({"get", "hostnam"})
    >>> action_match(said, ("set", "get")), action_match(said, ("get", "set"))
    (-1.0, 0.0)
    """
    if not contrast:
        return 0.0

    def said(part: str) -> bool:
        return any(w == part or (len(w) >= 3 and part.startswith(w)) for w in words)

    return -1.0 if not said(contrast[0]) and any(said(p) for p in contrast[1:]) else 0.0


def namespace_match(cand: np.ndarray, stems: Sequence[str], ns: Namespaces | None) -> np.ndarray:
    """Per candidate, in [-1, 1]: the distinctiveness of the namespace the question names when
    the candidate is filed under it, minus it when the candidate is filed elsewhere (0 when the
    question names none)."""
    out = np.zeros(len(cand))
    if ns is None:
        return out
    named = [ns.by_stem[f] for s in stems for f in (s, *terms.alternatives(s)) if f in ns.by_stem]
    named = [(j, d) for j, d in named if d >= NS_DISTINCT]
    if not named:
        return out
    of = ns.of[cand]
    strongest = max(d for _, d in named)
    out -= strongest * (of >= 0)
    for j, d in named:
        out[of == j] = d
    return out


def idf(num_docs: int, df: int) -> float:
    """Lucene IDF; a term not in the corpus (``df`` 0) counts as the rarest."""
    return math.log(1 + (num_docs - df + 0.5) / (df + 0.5))


def candidates(bm25: np.ndarray | None, sims: np.ndarray | None) -> np.ndarray:
    """Indexes of the BM25 top list (positive scores) and the semantic top list, without repeats."""
    picks = []
    if bm25 is not None and len(bm25):
        n = min(BM_CANDIDATES, len(bm25))
        top = np.argpartition(-bm25, n - 1)[:n]
        picks.append(top[bm25[top] > 0])
    if sims is not None and len(sims):
        n = min(SEM_CANDIDATES, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        picks.append(top[sims[top] > 0])
    return np.unique(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)


def name_match(stems: Sequence[str], name: str, weights: Sequence[float] | None = None) -> float:
    """Share of the query's stems found inside the documented name (``iso`` in ``fromisoformat``),
    each stem weighted by its IDF (``weights``; equal when None): ``zero`` in ``numpy.zeros``
    says more than ``array`` in ``numpy.ndarray``. A stem's short forms count too
    (``dictionari`` in ``DictReader`` as ``dict``; ``core.sources.terms``)."""
    if not stems:
        return 0.0
    w = weights or [1.0] * len(stems)
    hit = sum(x for s, x in zip(stems, w, strict=True) if _in_name(s, name))
    return hit / (sum(w) or 1.0)


def _in_name(stem: str, name: str) -> bool:
    if len(stem) >= 3 and stem in name:
        return True
    return any(len(a) >= 3 and a in name for a in terms.alternatives(stem))


def lead_match(stems: Sequence[str], lead: frozenset[str], weights: Sequence[float] | None = None) -> float:
    """Share of the query's stems in the lead sentence (or a short form of one: "``str``" for
    "string"), IDF-weighted like ``name_match``."""
    if not stems:
        return 0.0
    w = weights or [1.0] * len(stems)
    hit = sum(
        x for s, x in zip(stems, w, strict=True) if s in lead or any(a in lead for a in terms.alternatives(s))
    )
    return hit / (sum(w) or 1.0)


@dataclass(frozen=True, slots=True)
class Chunks:
    """The per-chunk features ``score`` reads (``core.sources.signals.Features``), indexed by chunk."""

    prior: np.ndarray
    names: Sequence[str]
    leads: Sequence[frozenset[str]]
    anchors: Sequence[frozenset[str]] | None = None
    contrasts: Sequence[tuple[str, ...]] | None = None
    data: np.ndarray | None = None
    """Per chunk, True for a data attribute's or constant's own documentation (``Features.data``)."""
    ns: Namespaces | None = None

    @classmethod
    def of(cls, feats: Sequence[Features], ns: Namespaces | None = None) -> Chunks:
        return cls(
            np.array([f.prior for f in feats], dtype=np.float32),
            [f.name for f in feats],
            [frozenset(f.lead) for f in feats],
            [frozenset(f.anchor) for f in feats],
            [f.contrast for f in feats],
            np.array([f.data for f in feats], dtype=bool),
            ns,
        )


@dataclass(frozen=True, slots=True)
class NameWords:
    """The words of the chunks' names, for ``named``."""

    words: tuple[str, ...]
    """The distinct words of the names, sorted (``file``, ``handler``, ``filehandler``: ``FileHandler``)."""
    postings: tuple[list[int], ...]
    """Per word of ``words``, the chunks whose name has it (a document's first chunk only)."""

    @classmethod
    def of(cls, names: Sequence[str]) -> NameWords:
        by_word: defaultdict[str, list[int]] = defaultdict(list)
        split: dict[str, tuple[str, ...]] = {}  # names share their parts (module names): split each once
        last = ""
        for i, name in enumerate(names):
            if name == last:
                continue  # a later chunk of the same document
            last = name
            for part in name.split():
                got = split.get(part)
                if got is None:
                    got = split[part] = tuple(dict.fromkeys((part, *name_parts(part))))
                for word in got:
                    by_word[word].append(i)
        words = tuple(sorted(by_word))
        return cls(words, tuple(by_word[w] for w in words))


def named(names: NameWords, query: Query) -> np.ndarray:
    """Chunks whose name's words begin with at least ``NAME_SHARE`` of the query's stems
    (IDF-weighted, short forms counted: "log ... file" in ``logging.FileHandler``), the
    ``NAME_CANDIDATES`` best: an API named for the question that neither the BM25 nor the semantic
    top list holds (its docstring says it in other words: "writes records to disk files"). A form
    beginning more than ``NAME_MAX_HITS`` names says little and is not looked up (~0.1 ms a query
    for the three corpora)."""
    if not names.words or not NAME_CANDIDATES:
        return np.zeros(0, dtype=np.int64)
    w = query.weights or [1.0] * len(query.stems)
    total = sum(w) or 1.0
    got: dict[int, float] = {}
    for stem, x in zip(query.stems, w, strict=True):
        hit: set[int] = set()
        for f in (stem, *terms.alternatives(stem)):
            if len(f) < 3:
                continue
            # the name words this form begins (``file`` -> ``file``, ``filename``), by bisection
            j = bisect.bisect_left(names.words, f)
            found: list[int] = []
            while j < len(names.words) and names.words[j].startswith(f) and len(found) <= NAME_MAX_HITS:
                found.extend(names.postings[j])
                j += 1
            if len(found) <= NAME_MAX_HITS:
                hit.update(found)
        for i in hit:
            got[i] = got.get(i, 0.0) + x
    best = sorted((i for i, v in got.items() if v / total >= NAME_SHARE), key=lambda i: (-got[i], i))
    return np.array(best[:NAME_CANDIDATES], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Query:
    """One query's stems, their IDF ``weights`` (equal when None) and total ``idf`` (BM25's
    normalizer), and ``words``: its stems with stop words kept (``action_match``)."""

    stems: Sequence[str]
    weights: Sequence[float] | None = None
    idf: float = 1.0
    words: frozenset[str] = frozenset()


def score(
    cand: np.ndarray, bm25: np.ndarray | None, sims: np.ndarray, chunks: Chunks, query: Query
) -> np.ndarray:
    """The fused score of each candidate (indexes ``cand``), in [0, 1] (see ``blend``)."""
    n = len(cand)
    ids = cand.tolist()
    stems = query.stems
    bm = np.minimum(1.0, bm25[cand] / query.idf) if bm25 is not None else np.zeros(n)
    # name_match and lead_match for all candidates at once: one pass per query stem (and short
    # form), not one call per candidate and stem.
    cand_names = [chunks.names[i] for i in ids]
    cand_leads = [chunks.leads[i] for i in ids]
    cand_anchors = [chunks.anchors[i] for i in ids] if chunks.anchors is not None else None
    w = query.weights or [1.0] * len(stems)
    name, lead, anchor = np.zeros(n), np.zeros(n), np.zeros(n)
    for stem, x in zip(stems, w, strict=True):
        forms = (stem, *terms.alternatives(stem))
        in_name = np.zeros(n, dtype=bool)
        in_lead = np.zeros(n, dtype=bool)
        in_anchor = np.zeros(n, dtype=bool)
        for f in forms:
            if len(f) >= 3:
                in_name |= np.fromiter((f in nm for nm in cand_names), dtype=bool, count=n)
            in_lead |= np.fromiter((f in ld for ld in cand_leads), dtype=bool, count=n)
            if cand_anchors is not None:
                in_anchor |= np.fromiter((f in a for a in cand_anchors), dtype=bool, count=n)
        name += x * in_name
        lead += x * in_lead
        anchor += x * in_anchor
    total = sum(w) or 1.0
    name /= total
    lead /= total
    anchor /= total
    fused = (
        W_BM * bm
        + W_SEM * np.maximum(0.0, sims[cand])
        + W_NAME * name
        + W_LEAD * lead
        + W_NS * namespace_match(cand, stems, chunks.ns)
        + W_ANCHOR * anchor
        + chunks.prior[cand]
    )
    if chunks.data is not None:
        fused += W_DATA * chunks.data[cand]
    if chunks.contrasts is not None and query.words:
        fused += W_ACTION * np.array([action_match(query.words, chunks.contrasts[i]) for i in ids])
    return np.round(np.clip(fused, 0.0, 1.0), 4)


def blend(bm: float, sim: float, name: float, lead: float, prior: float) -> float:
    """The fused score of one candidate, in [0, 1]: the weighted signals plus the prior.

    >>> blend(1.0, 1.0, 1.0, 1.0, 0.0)
    0.95
    """
    fused = W_BM * min(1.0, bm) + W_SEM * max(0.0, sim) + W_NAME * name + W_LEAD * lead + prior
    return round(min(1.0, max(0.0, fused)), 4)
