"""A persisted BM25 index over chunked documents (bm25s + PyStemmer), rebuilt only when content changes.

Layout under ``<index_dir>/<source>/`` (``index_dir`` defaults to ``<data_dir>/index``)::

    current.json          {"version", "fingerprint", ...}  (replaced atomically)
    <version>/            bm25s.save() files + chunks.json (orjson: the chunk records)
                          + embeddings.npy (float32, one unit vector per chunk) + features.json
                          (the ranking prior, name and lead of each chunk; ``core.sources.rank``)

Search is hybrid (``core.sources.rank``): BM25 and embedding similarity blended with the prior.

``version`` is the xxh3 hash of the collected documents (their content). ``fingerprint`` is a
cheap stand-in the caller computes without collecting (file paths + mtimes + sizes, installed
distribution versions...): when it matches, the index loads without collecting at all; when it
does not, the documents are collected and hashed, and the index is rebuilt only if that content
hash differs from the stored version. Each version lives in its own folder, so two processes that
build at once never read a half-written index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import bm25s
import numpy as np
import orjson
import xxhash

from core import gc_policy
from core.sources import rank, semantic, signals
from core.sources.base import Hit
from core.sources.text import chunk_text, name_words, stem_words, tokenize

log = logging.getLogger(__name__)
# Anserini's BM25 defaults (k1=0.9, b=0.4) rather than bm25s's (1.5, 0.75): docstrings vary from
# one line to pages, and a milder length penalty keeps long, thorough entries competitive.
BM25_K1, BM25_B = 0.9, 0.4
FORMAT = 2
"""Bump when the on-disk layout changes."""
# Chunking, tokenization, ranking features and the embedding model shape the index without
# changing the documents, so their code and the model's identity are part of every version hash:
# editing them rebuilds the indexes (and so changes every cache key).
_HERE = Path(__file__)
# The modules whose code shapes an index (chunks, features, embeddings, cleaned text).
CORPUS_FILES = (
    "index.py",
    "text.py",
    "rank.py",
    "signals.py",
    "terms.py",
    "semantic.py",
    "markup.py",
    "reference.py",
    "readers.py",
    "stdlib.py",
    "packages.py",
)
CODE_HASH = xxhash.xxh3_64(
    b"".join(_HERE.with_name(f).read_bytes() for f in CORPUS_FILES) + semantic.MODEL_ID.encode()
).hexdigest()


@dataclass(frozen=True, slots=True)
class Document:
    """One collected text before chunking: a docstring, a README section, a file section."""

    title: str
    location: str
    text: str
    keywords: str = ""
    """Extra words indexed with every chunk but not shown (e.g. the module's summary line)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    doc_id: str
    title: str
    location: str
    text: str
    keywords: str

    def index_text(self) -> str:
        # The dotted name split into words carries most of the signal for short docstrings.
        # Title and location repeat each other; count each name word once.
        names = dict.fromkeys(f"{name_words(self.title)} {name_words(self.location)}".split())
        return f"{' '.join(names)} {self.keywords}\n{self.text}"


def content_hash(docs: Iterable[Document]) -> str:
    """Short hex hash of the documents' content (the corpus version).

    >>> content_hash([Document("t", "l", "x")]) == content_hash([Document("t", "l", "x")])
    True
    """
    h = xxhash.xxh3_64()
    h.update(f"format={FORMAT};code={CODE_HASH}\0".encode())
    for d in docs:
        h.update(orjson.dumps((d.title, d.location, d.text, d.keywords)))
    return h.hexdigest()[:12]


def chunk_documents(docs: Iterable[Document]) -> list[Chunk]:
    """Chunk each document (~150-300 words); ids are the location, plus ``~n`` for later chunks."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for d in docs:
        for i, piece in enumerate(chunk_text(d.text)):
            base = d.location if i == 0 else f"{d.location}~{i}"
            n = seen.get(base, 0)
            seen[base] = n + 1
            doc_id = base if n == 0 else f"{base}~dup{n}"
            chunks.append(Chunk(doc_id, d.title, d.location, piece, d.keywords))
    return chunks


class CorpusIndex:
    """The chunks of one corpus and their BM25 index. Search is synchronous and sub-millisecond."""

    def __init__(
        self,
        name: str,
        version: str,
        chunks: list[Chunk],
        bm25: bm25s.BM25 | None,
        *,
        origin: Literal["built", "loaded"],
        seconds: float,
        embeddings: np.ndarray | None = None,
        features: list[signals.Features] | None = None,
    ) -> None:
        self.name, self.version, self.chunks, self._bm25 = name, version, chunks, bm25
        self._emb = embeddings if embeddings is not None else _embed(chunks)
        self._features = features if features is not None else _features(chunks)
        self._chunks = rank.Chunks.of(self._features, self._namespaces())
        self._name_words: rank.NameWords | None = None
        """Built on the first search, not at load: it is not needed to start (warm start < 1 s)."""
        self.origin = origin
        """``built`` when this process (re)built it, ``loaded`` when read from disk."""
        self.seconds = seconds
        """Wall time of the build or the load."""

    def _namespaces(self) -> signals.Namespaces | None:
        if self._bm25 is None:
            return None
        indptr, vocab = self._bm25.scores["indptr"], self._bm25.vocab_dict

        def df(stem: str) -> int:
            j = vocab.get(stem)
            return int(indptr[j + 1] - indptr[j]) if j is not None and j + 1 < len(indptr) else 0

        return signals.namespaces([c.title for c in self.chunks], [c.location for c in self.chunks], df)

    @classmethod
    def build(cls, name: str, docs: list[Document], version: str | None = None) -> CorpusIndex:
        t0 = time.perf_counter()
        chunks = chunk_documents(docs)
        bm25 = None
        if chunks:
            bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
            bm25.index([tokenize(c.index_text()) or ["\0"] for c in chunks], show_progress=False)
        version = version or content_hash(docs)
        emb, feats = _embed(chunks), _features(chunks)
        return cls(
            name,
            version,
            chunks,
            bm25,
            origin="built",
            seconds=time.perf_counter() - t0,
            embeddings=emb,
            features=feats,
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)
        np.save(folder / "embeddings.npy", self._emb)
        feats = [(f.prior, f.name, f.lead, f.anchor, f.contrast, f.data) for f in self._features]
        (folder / "features.json").write_bytes(orjson.dumps(feats))
        records = [(c.doc_id, c.title, c.location, c.text, c.keywords) for c in self.chunks]
        (folder / "chunks.json").write_bytes(orjson.dumps(records))

    @classmethod
    def load(cls, name: str, version: str, folder: Path) -> CorpusIndex | None:
        """The saved index, or None when it is missing or unreadable (the caller rebuilds)."""
        t0 = time.perf_counter()
        try:
            chunks = [Chunk(*r) for r in orjson.loads((folder / "chunks.json").read_bytes())]
            bm25 = bm25s.BM25.load(str(folder), show_progress=False) if chunks else None
            emb = np.load(folder / "embeddings.npy")
            feats = [
                signals.Features(p, n, tuple(lead), tuple(anchor), tuple(contrast), bool(data))
                for p, n, lead, anchor, contrast, data in orjson.loads(
                    (folder / "features.json").read_bytes()
                )
            ]
            if emb.shape != (len(chunks), semantic.DIM) or len(feats) != len(chunks):
                raise ValueError("embeddings or features do not match the chunks")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("index %s at %s unreadable (%s); rebuilding", name, folder, exc)
            return None
        return cls(
            name,
            version,
            chunks,
            bm25,
            origin="loaded",
            seconds=time.perf_counter() - t0,
            embeddings=emb,
            features=feats,
        )

    def search(self, query: str, k: int) -> list[Hit]:
        """The ``k`` best chunks by the hybrid score (``core.sources.rank``), best first; the score
        is in [0, 1] and comparable across corpora.

        >>> idx = CorpusIndex.build("t", [Document("a", "a", "cats purr"), Document("b", "b", "dogs bark")])
        >>> [h.title for h in idx.search("why do cats purr?", 1)]
        ['a']
        """
        if not self.chunks or k <= 0:
            return []
        stems = list(_query_stems(query))
        bm: np.ndarray | None = None
        idf = 1.0
        weights: list[float] | None = None
        if not stems:
            return []  # only stopwords: nothing to look for
        if self._bm25 is not None:
            ids = self._bm25.get_tokens_ids(stems)
            if not ids:
                # No query word occurs in the corpus: similarity alone would match noise.
                return []
            bm = self._bm25.get_scores_from_ids(ids)
            indptr = self._bm25.scores["indptr"]
            vocab = self._bm25.vocab_dict
            num_docs = int(self._bm25.scores["num_docs"])
            dfs = [int(indptr[vocab[s] + 1] - indptr[vocab[s]]) if s in vocab else 0 for s in stems]
            weights = [rank.idf(num_docs, df) for df in dfs]
            idf = sum(weights) or 1.0
        # einsum, not @: BLAS would spread this small product over threads that cost more than it.
        sims = np.einsum("ij,j->i", self._emb, _query_vector(query))
        q = rank.Query(stems, weights, idf, _query_words(query))
        # candidates: the BM25 and semantic top lists, and the APIs whose names say the question
        if self._name_words is None:  # two threads may both build it: the same words, either kept
            self._name_words = rank.NameWords.of(self._chunks.names)
        cand = np.union1d(rank.candidates(bm, sims), rank.named(self._name_words, q))
        scores = rank.score(cand, bm, sims, self._chunks, q)
        # One hit per document, its best chunk; a document whose other chunks match too is more
        # about the question than one lucky chunk (rank.W_SECOND of its second-best chunk's score).
        best: dict[str, tuple[float, int, float]] = {}
        for score, i in zip(scores.tolist(), cand.tolist(), strict=True):
            loc = self.chunks[i].location
            top = best.get(loc)
            if top is None:
                best[loc] = (score, i, 0.0)
            elif score > top[0]:
                best[loc] = (score, i, top[0])
            else:
                best[loc] = (top[0], top[1], max(top[2], score))
        ranked = sorted(
            ((min(1.0, round(s1 + rank.W_SECOND * s2, 4)), i) for s1, i, s2 in best.values()),
            key=lambda p: (-p[0], p[1]),
        )
        hits: list[Hit] = []
        for score, i in ranked[:k]:
            if score <= 0:
                break
            c = self.chunks[i]
            hits.append(Hit(c.doc_id, c.title, c.location, c.text, score))
        return hits

    def search_bm25(self, query: str, k: int) -> list[Hit]:
        """The ``k`` best chunks by BM25 alone (raw scores), best first: the baseline the quality
        bench compares the hybrid search with.

        >>> idx = CorpusIndex.build("t", [Document("a", "a", "cats purr"), Document("b", "b", "dogs bark")])
        >>> [h.title for h in idx.search_bm25("why do cats purr?", 3)]
        ['a']
        """
        if self._bm25 is None or k <= 0:
            return []
        ids = self._bm25.get_tokens_ids(tokenize(query))
        if not ids:
            return []
        scores = self._bm25.get_scores_from_ids(ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        hits = []
        for i in top:
            score = float(scores[i])
            if score <= 0:
                break
            c = self.chunks[int(i)]
            hits.append(Hit(c.doc_id, c.title, c.location, c.text, round(score, 4)))
        return hits


def _embed(chunks: list[Chunk]) -> np.ndarray:
    ref = signals.reference_openings([c.location for c in chunks], [c.text for c in chunks])
    return semantic.embed([signals.embed_text(c.title, c.text, ref.get(c.location, "")) for c in chunks])


def _features(chunks: list[Chunk]) -> list[signals.Features]:
    return signals.features([c.title for c in chunks], [c.location for c in chunks], [c.text for c in chunks])


@lru_cache(maxsize=256)
def _query_stems(query: str) -> tuple[str, ...]:
    # Every source tokenizes the same query of a run: stem it once.
    return tuple(dict.fromkeys(tokenize(query)))


@lru_cache(maxsize=256)
def _query_words(query: str) -> frozenset[str]:
    # Stop words kept: "get" tells gethostname from sethostname (``rank.action_match``).
    return frozenset(stem_words(query))


@lru_cache(maxsize=256)
def _query_vector(query: str) -> np.ndarray:
    # Every source embeds the same query of a run: embed it once.
    return semantic.embed_one(query)


def open_index(name: str, root: Path, fingerprint: str, collect: Callable[[], list[Document]]) -> CorpusIndex:
    """Load the index of ``name`` under ``root/name``, or collect and (re)build it. Blocking:
    call through ``asyncio.to_thread``. ``root`` is the index directory (``Settings.resolved_index_dir``).

    >>> # idx = open_index("docs", Path(".data/index"), fp, lambda: read_folder(...))
    """
    with gc_policy.paused():  # what a load or a build allocates lives on: no collection needed
        return _open_index(name, root, fingerprint, collect)


def _open_index(
    name: str, root: Path, fingerprint: str, collect: Callable[[], list[Document]]
) -> CorpusIndex:
    home = root / name
    # The fingerprint stands in for the content hash, which covers the index code and the model.
    fingerprint = xxhash.xxh3_64(f"{fingerprint}\0{CODE_HASH}".encode()).hexdigest()[:12]
    current = _read_current(home)
    if current and current.get("fingerprint") == fingerprint:
        idx = CorpusIndex.load(name, current["version"], home / current["version"])
        if idx is not None:
            return idx
    t0 = time.perf_counter()
    docs = collect()
    version = content_hash(docs)
    collect_s = time.perf_counter() - t0
    if current and current.get("version") == version:
        idx = CorpusIndex.load(name, version, home / version)
        if idx is not None:
            # Same content under a new fingerprint (e.g. touched files): remember it, don't rebuild.
            _write_current(home, {**current, "fingerprint": fingerprint})
            return idx
    idx = CorpusIndex.build(name, docs, version)
    idx.seconds += collect_s
    _publish(home, idx, fingerprint)
    log.info("index %s built: %d chunks in %.2fs (version %s)", name, len(idx.chunks), idx.seconds, version)
    return idx


def _read_current(home: Path) -> dict | None:
    try:
        data = orjson.loads((home / "current.json").read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _write_current(home: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".current-", suffix=".json")
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(data))
    os.replace(tmp, home / "current.json")


def _publish(home: Path, idx: CorpusIndex, fingerprint: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    final = home / idx.version
    if not final.exists():
        tmp = Path(tempfile.mkdtemp(dir=home, prefix=".build-"))
        idx.save(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process published the same version first
            shutil.rmtree(tmp, ignore_errors=True)
    _write_current(
        home,
        {
            "format": FORMAT,
            "version": idx.version,
            "fingerprint": fingerprint,
            "chunks": len(idx.chunks),
            "built_at": time.time(),
            "build_s": round(idx.seconds, 3),
        },
    )
    for old in home.iterdir():  # best effort: drop superseded versions
        if old.is_dir() and old.name != idx.version and not old.name.startswith("."):
            with contextlib.suppress(OSError):
                shutil.rmtree(old)
