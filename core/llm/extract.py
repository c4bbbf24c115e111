"""The offline model's work, as pure functions over plain data: key terms, relevance, summaries.

Extractive and deterministic: terms are the question's informative words (English stopwords from
bm25s plus question filler dropped, identifiers kept as written); matching is on Snowball stems
(PyStemmer), so ``coroutines`` meets ``coroutine``; sentences are picked, never invented.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

MAX_TERMS = 12
MAX_SENTENCES = 5
MIN_SENTENCES = 2
MAX_SENTENCE_WORDS = 40
TOP_FINDINGS = 5

# Dotted names stay one token (``asyncio.gather``); a trailing full stop is not part of a name.
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*[-*>#])")
_SPACE = re.compile(r"\s+")
# Words that make a question a question but never help retrieval.
_FILLER = frozenset(
    """use using used uses work works working way ways get gets make makes need needs want like
    difference differences example examples best better good python thing things also would could
    might must shall may one two many much well still even know tell explain show give""".split()
)
_STOP = frozenset(STOPWORDS_EN_PLUS) | _FILLER
_local = threading.local()  # Snowball stemmers are not safe to share between threads


def _stemmer() -> Any:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def is_identifier(token: str) -> bool:
    """A code name rather than an English word: dotted, snake_case, CamelCase or with digits.

    >>> [is_identifier(t) for t in ("TaskGroup", "asyncio.gather", "create_task", "concurrently")]
    [True, True, True, False]
    """
    return (
        any(c in token for c in "._")
        or any(c.isdigit() for c in token)
        or any(c.isupper() for c in token[1:])
    )


def stems(text: str) -> set[str]:
    """Stems of every word in ``text``; a dotted name also contributes its parts.

    >>> sorted(stems("asyncio.gather runs coroutines"))
    ['asyncio', 'asyncio.gath', 'coroutin', 'gather', 'run']
    """
    # Stem each distinct word once: documents repeat their words a lot.
    words = set(_TOKEN.findall(text.lower()))
    for word in [w for w in words if "." in w]:
        words.update(word.split("."))
    return set(_stemmer().stemWords(list(words)))


def key_terms(question: str) -> list[str]:
    """The informative terms of ``question``: identifiers first, then words in question order.

    >>> key_terms("How does asyncio.gather run coroutines concurrently?")
    ['asyncio.gather', 'run', 'coroutines', 'concurrently']
    """
    seen: set[str] = set()
    idents: list[str] = []
    words: list[str] = []
    tokens = _TOKEN.findall(question)
    stemmed = _stemmer().stemWords([t.lower() for t in tokens])
    for token, stem in zip(tokens, stemmed, strict=True):
        ident = is_identifier(token)
        if not ident and (token.lower() in _STOP or len(token) < 3):
            continue
        if stem in seen:
            continue
        seen.add(stem)
        (idents if ident else words).append(token)
    terms = (idents + words)[:MAX_TERMS]
    # A question made only of stopwords still needs something to search for.
    return terms or [t for t in tokens if len(t) > 1][:MAX_TERMS] or question.split()[:MAX_TERMS]


def search_query(terms: list[str]) -> str:
    """A keyword query from the terms (sources tokenize it themselves).

    >>> search_query(["asyncio.gather", "coroutines"])
    'asyncio.gather coroutines'
    """
    return " ".join(terms)[:500]


def _query_stems(question: str, terms: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for term in [*terms, *key_terms(question)]:
        out |= stems(term)
    return out


_SIGNATURE = re.compile(r"^\s*[\w.]+\([^)]*\)(\s*->\s*[^\s]+)?\s*")


def lead(text: str, words: int = 25) -> str:
    """The lead of a document: its first words after any ``name(args)`` signature line.

    >>> lead("gather(*aws)  Run awaitable objects concurrently. More text.", words=4)
    'Run awaitable objects concurrently.'
    """
    return " ".join(_SIGNATURE.sub("", text, count=1).split()[:words])


def relevance(question: str, terms: list[str], candidates: list[dict[str, Any]]) -> list[float]:
    """One 0-1 score per candidate: key-term coverage of the text, of its lead and of its title,
    plus BM25 normalized per source.

    A document's lead (a docstring's summary line, a section's opening) says what it is about;
    the same terms deep in the body are weaker evidence, so lead coverage counts on its own.
    BM25 scores from different corpora are not comparable, so each is divided by the best score of
    its own source in this batch.

    >>> relevance("gather coroutines", [], [{"title": "gather", "text": "gather coroutines", "score": 2.0},
    ...                                     {"title": "json", "text": "encode json", "score": 1.0}])
    [0.95, 0.125]
    """
    query = _query_stems(question, terms)
    best: dict[str, float] = defaultdict(float)
    for c in candidates:
        best[c.get("source", "")] = max(best[c.get("source", "")], float(c.get("score") or 0.0))
    out = []
    for c in candidates:
        text = str(c.get("text") or c.get("snippet") or "")
        title = stems(str(c.get("title", "")))
        body = stems(text) | title
        n = len(query) or 1
        coverage = len(query & body) / n
        lead_hit = len(query & stems(lead(text))) / n
        title_hit = len(query & title) / n
        top = best[c.get("source", "")]
        bm25 = max(0.0, float(c.get("score") or 0.0)) / top if top > 0 else 0.0
        score = 0.40 * coverage + 0.25 * lead_hit + 0.10 * title_hit + 0.25 * bm25
        out.append(round(min(1.0, score), 4))
    return out


def _sentences(snippet: str) -> list[str]:
    out = []
    for raw in _SENTENCE_SPLIT.split(snippet):
        sentence = _SPACE.sub(" ", raw).strip(" -*#>")
        words = sentence.split()
        # Code lines and fragments make poor summary sentences.
        if len(words) < 4 or sentence.startswith((">>>", "...")) or sum(w.isalpha() for w in words) < 3:
            continue
        if len(words) > MAX_SENTENCE_WORDS:
            sentence = " ".join(words[:MAX_SENTENCE_WORDS]) + " ..."
        out.append(sentence.replace("[", "(").replace("]", ")"))
    return out


def _cite(sentence: str, n: int) -> str:
    return f"{sentence.rstrip(' .;:,!?')} [{n}]."


def summarize(question: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """An extractive summary: the best sentences of the top findings, each ending with ``[n]``.

    Returns ``{"text", "confidence", "cited"}``; confidence mixes the cited findings' relevance
    (60%) with how many of the question's key terms the summary covers (40%).

    >>> summarize("gather coroutines", [{"snippet": "Use gather to run many coroutines at once.",
    ...                                  "relevance": 0.9}])["text"]
    'Use gather to run many coroutines at once [1].'
    """
    query = _query_stems(question, ())
    ranked = sorted(range(len(findings)), key=lambda i: -float(findings[i].get("relevance") or 0.0))
    scored: list[tuple[float, int, int, str]] = []  # (score, rank, finding index, sentence)
    for rank, i in enumerate(ranked[:TOP_FINDINGS]):
        rel = float(findings[i].get("relevance") or 0.0)
        for sentence in _sentences(str(findings[i].get("snippet") or findings[i].get("text") or "")):
            overlap = len(query & stems(sentence)) / len(query) if query else 0.0
            scored.append((overlap + 0.1 * rel, rank, i, sentence))
    scored.sort(key=lambda s: (-s[0], s[1]))
    picked: list[tuple[int, str]] = []
    # First the best on-topic sentence of each top finding (breadth), then the next best overall.
    for i in ranked[:TOP_FINDINGS]:
        own = [s for s in scored if s[2] == i and s[0] > 0.1 * float(findings[i].get("relevance") or 0.0)]
        if own and len(picked) < MAX_SENTENCES:
            picked.append((i, own[0][3]))
    for _, _, i, sentence in scored:
        if len(picked) >= MIN_SENTENCES:
            break
        if (i, sentence) not in picked:
            picked.append((i, sentence))
    if not picked and findings:
        # No usable sentence anywhere: point at the most relevant finding rather than invent text.
        top = findings[ranked[0]]
        name = (
            str(top.get("title") or top.get("location") or "the first finding")
            .replace("[", "(")
            .replace("]", ")")
        )
        picked = [(ranked[0], f"No passage answers this directly; the closest finding is {name}")]
    if not picked:
        return {"text": "No findings were retrieved for this question.", "confidence": 0.0, "cited": []}
    text = " ".join(_cite(sentence, i + 1) for i, sentence in picked)
    cited = sorted({i + 1 for i, _ in picked})
    mean_rel = sum(float(findings[n - 1].get("relevance") or 0.0) for n in cited) / len(cited)
    coverage = len(query & stems(text)) / len(query) if query else 0.0
    confidence = round(min(1.0, max(0.0, 0.6 * mean_rel + 0.4 * coverage)), 3)
    return {"text": text, "confidence": confidence, "cited": cited}
