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
from functools import lru_cache
from typing import Any

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

MAX_TERMS = 12
MAX_SENTENCES = 3
"""Prose sentences in a summary: the answer, then one or two of how/why."""
MAX_SENTENCE_WORDS = 40
DENSITY = 0.15
"""Share of a sentence's words that must be the question's for another finding's sentence to join."""
ELLIPSIS = "…"
"""Ends a sentence cut at ``MAX_SENTENCE_WORDS`` (kept through ``_cite``, unlike a full stop)."""
TOP_FINDINGS = 5
SECTION_OVERLAP = 0.5
"""Share of the question's terms a sentence of a section (not an API's docstring) needs to join."""
W_TERMS = 0.10
"""Weight of the key terms' coverage of a finding's lead, and of its title, beside a hybrid score
(0.05 or 0.15 scored lower on the quality bench, 0 much lower: the terms say what the score misses)."""

# Dotted names stay one token (``asyncio.gather``); a trailing full stop is not part of a name.
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAME_NUMBER = re.compile(r"\b([A-Za-z]{2,})-(\d{1,4})\b")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*[-*>#])|(?<=:)[ \t]*\n")
_SPACE = re.compile(r"\s+")
# Words that make a question a question but never help retrieval.
_FILLER = frozenset(
    """use using used uses work works working way ways make makes need needs want like
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


@lru_cache(maxsize=16384)
def stems(text: str) -> frozenset[str]:
    """Stems of every word in ``text``; a dotted name also contributes its parts.

    Memoized: the same chunk texts, titles and leads come back run after run (a str caches its
    own hash, so a hit costs a dict lookup), and stemming them again was a third of the offline
    model's CPU.

    >>> sorted(stems("asyncio.gather runs coroutines"))
    ['asyncio', 'asyncio.gath', 'coroutin', 'gather', 'run']
    """
    # Stem each distinct word once: documents repeat their words a lot.
    words = set(_TOKEN.findall(text.lower()))
    for word in [w for w in words if "." in w]:
        words.update(word.split("."))
    return frozenset(_stemmer().stemWords(list(words)))


def key_terms(question: str) -> list[str]:
    """The informative terms of ``question``: identifiers first, then words in question order.

    >>> key_terms("How does asyncio.gather run coroutines concurrently?")
    ['asyncio.gather', 'run', 'coroutines', 'concurrently']
    """
    seen: set[str] = set()
    idents: list[str] = []
    words: list[str] = []
    # "SHA-256", "UTF-8": the name is the letters and the number together (``sha256``, ``utf_8``
    # in the APIs); the token pattern alone would keep only "SHA".
    tokens = [f"{a}{n}" for a, n in _NAME_NUMBER.findall(question)] + _TOKEN.findall(question)
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
_QUOTED = re.compile(r"^(?:>[^\n]*(?:\n|$))+\s*")


def lead(text: str, words: int = 25) -> str:
    """The lead of a document: its first words after any ``name(args)`` signature line.

    >>> lead("gather(*aws)  Run awaitable objects concurrently. More text.", words=4)
    'Run awaitable objects concurrently.'
    """
    body = _SIGNATURE.sub("", text, count=1).lstrip()
    body = _QUOTED.sub("", body, count=1)  # an aside quoted at the start says what to read, not what it is
    return " ".join(body.split()[:words])


def _raw_sources(candidates: list[dict[str, Any]]) -> dict[str, float]:
    """The best score of each source whose scores are raw (some above 1): BM25 values from
    different corpora are not comparable, so those are divided by their source's best."""
    best: dict[str, float] = defaultdict(float)
    for c in candidates:
        best[c.get("source", "")] = max(best[c.get("source", "")], float(c.get("score") or 0.0))
    return {s: b for s, b in best.items() if b > 1.0}


def short_title(title: str) -> str:
    """A title without a README's distribution summary: ``name version — summary / Heading`` ->
    ``name version Heading`` (the summary repeats in every section's title; it says nothing of one).

    >>> short_title("httpx 0.28 — The next generation HTTP client. / Async")
    'httpx 0.28 Async'
    """
    if " — " not in title:
        return title
    name, rest = title.split(" — ", 1)
    return f"{name} {rest.split(' / ', 1)[1]}" if " / " in rest else name


def relevance(question: str, terms: list[str], candidates: list[dict[str, Any]]) -> list[float]:
    """One 0-1 score per candidate, from its retrieval score and the key terms in its lead and title.

    A retrieval score in [0, 1] (the hybrid search's) already weighs BM25, meaning and what kind
    of text it is: it counts for 70%, the lead and title coverage for the rest. Raw scores (BM25
    above 1) are divided by their source's best and count for 25%, with the share of key terms
    the whole text covers (40%). A document's lead (a docstring's summary line, a section's
    opening) says what it is about, so lead coverage counts on its own.

    >>> relevance("gather coroutines", [], [{"title": "gather", "text": "gather coroutines", "score": 0.8},
    ...                                     {"title": "json", "text": "encode json", "score": 0.3}])
    [0.79, 0.24]
    """
    query = _query_stems(question, terms)
    n = len(query) or 1
    raw = _raw_sources(candidates)
    out = []
    for c in candidates:
        text = str(c.get("text") or c.get("snippet") or "")
        title = stems(short_title(str(c.get("title", ""))))
        lead_stems = stems(lead(text)) | title
        lead_hit = len(query & lead_stems) / n
        title_hit = len(query & title) / n
        retrieval = max(0.0, float(c.get("score") or 0.0))
        top = raw.get(c.get("source", ""))
        if top is None:
            score = (1 - 2 * W_TERMS) * retrieval + W_TERMS * lead_hit + W_TERMS * title_hit
        else:
            coverage = len(query & (stems(text) | title)) / n
            score = 0.40 * coverage + 0.25 * lead_hit + 0.10 * title_hit + 0.25 * retrieval / top
        out.append(round(min(1.0, score), 4))
    return out


CUT_CHARS = 590
"""Snippets this long were cut from a longer text (the workflow keeps 600 characters)."""
_BULLET = re.compile(r"^(?:[-*+]\s+|\d+\.\s+|>\s*)+")
_CITATION_LIKE = re.compile(r"\[(\d+)\]")
_CITED = re.compile(r"\[(\d+)\]\.$")
"""The citation ``_cite`` ends a sentence with."""
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_ALPHA = re.compile(r"[A-Za-z]+")
# Code that HTML flattening ran into prose ("def from_iterable(iterables): # ... for it in ...").
_CODE_PROSE = re.compile(r"\b(?:async\s+)?def \w+\(|-->|\bfor \w+ in \S+:|^[\w.]+\(.*\)\s+# ")
"""A usage line ("Timeout(5.0)  # 5s timeout on all operations") is code too."""
_PRIVATE_ITEM = re.compile(r"^`?_\w*`?:")
"""A private or dunder attribute's entry ("__pydantic_fields__: ..."): the class's internals."""
_PARAMETER = re.compile(r"^\s*(\*{0,2}\w+) : [^\n]*\n\s+(?=\S)")
"""A numpydoc parameter's name and type line (``axis : None or int, optional``, its text below)."""
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.S)
_UNDERLINED = re.compile(r"^[^\n]*\n[ \t]*[-=~^]{3,}[ \t]*$", re.M)
"""A numpydoc / reST section heading and its underline (``Parameters`` over ``----------``)."""
_CAPS_HEADING = re.compile(r"^[ \t]*[A-Z][A-Z ]{2,}[ \t]*$", re.M)
"""A manual page's heading alone on its line (``NAME``, ``SYNOPSIS``, ``DESCRIPTION``)."""
_VERSION_NOTE = re.compile(r"^(?:Changed|New|Added) in version |^Deprecated since version ")
"""A Python docs version note: the API's history, not how or why to use it."""
_DOCTEST = re.compile(r"(?:^[ \t]*>>> .*\n?(?:^[ \t]*\.\.\. .*\n?)*)+", re.M)


def _is_label(text: str) -> bool:
    """A line that names what follows rather than saying something: fewer than two lower-case
    words outside brackets ("Library reference (heapq — Heap queue algorithm):").

    >>> _is_label("Library reference (heapq — Heap queue algorithm):"), _is_label("Create a TCP server:")
    (True, False)
    """
    return sum(w.islower() for w in _ALPHA.findall(_BRACKETED.sub(" ", text))) < 2


def _sentences(snippet: str) -> list[str]:
    """Prose sentences of a snippet (code blocks, doctests and badges left out), links kept as
    Markdown; a bracketed number that would read as a citation becomes ``(n)``."""
    prose = _DOCTEST.sub("\n\n", _FENCE.sub("\n\n", _IMAGE.sub("", snippet)))
    prose = _CAPS_HEADING.sub("\n\n", _UNDERLINED.sub("\n\n", prose))
    prose = prose.split("```", 1)[0]  # a code block the snippet's cut left open
    pieces = _SENTENCE_SPLIT.split(prose)
    if len(snippet) >= CUT_CHARS and pieces and not pieces[-1].rstrip().endswith((".", "!", "?", ")", "`")):
        pieces.pop()  # the fragment where the snippet was cut
    out = []
    for raw in pieces:
        if raw.lstrip().startswith("#") or (raw.rstrip().endswith(":") and _is_label(raw)):
            continue  # a heading, or a label introducing a list or block ("Library reference (...):")
        # A parameter reads "`axis`: Axis or axes along which..." (its type line says little).
        raw = _PARAMETER.sub(lambda m: f"`{m.group(1)}`: ", raw, count=1)
        # A list item's marker goes; Markdown emphasis stays balanced.
        sentence = _BULLET.sub("", _SPACE.sub(" ", raw).strip()).strip(" >")
        words = sentence.split()
        # Code lines, fragments and page headers ("CREATE INDEX(7) PostgreSQL 15.20
        # Documentation": no lower-case prose words) make poor summary sentences.
        if (
            len(words) < 4
            or sentence.startswith((">>>", "...", "```"))
            or sum(w.isalpha() for w in words) < 3
            or sum(bool(_ALPHA.search(w)) for w in words) < 0.6 * len(words)  # syntax: "FULL [ boolean ]"
            or sum(w.islower() for w in _ALPHA.findall(sentence)) < 2
            or _CODE_PROSE.search(sentence)
            or _VERSION_NOTE.match(sentence)
            or _PRIVATE_ITEM.match(sentence)
        ):
            continue
        if len(words) > MAX_SENTENCE_WORDS:
            sentence = " ".join(words[:MAX_SENTENCE_WORDS]).rstrip(" .,;:") + " " + ELLIPSIS
        out.append(_CITATION_LIKE.sub(r"(\1)", sentence))
    return out


def code_example(snippet: str, max_lines: int = 12) -> str:
    """The first complete code example of a snippet (a closed fenced block, or a doctest in a
    snippet that was not cut), at most ``max_lines`` lines, or ``""``.

    >>> code_example(">>> asyncio.run(main())")
    'asyncio.run(main())'
    """
    fence = _FENCE.search(snippet)
    if fence:
        code = fence.group(1).strip()
    elif len(snippet) < CUT_CHARS and (doctest := _DOCTEST.search(snippet)):
        code = "\n".join(
            ln.strip()[4:] for ln in doctest.group(0).splitlines() if ln.strip().startswith(">>>")
        )
    else:
        return ""
    lines = code.splitlines()
    # Text flattened from HTML runs a whole session into one line: not an example to show.
    if not lines or len(lines) > max_lines or any(" >>> " in ln for ln in lines):
        return ""
    return code.strip()


def _cite(sentence: str, n: int) -> str:
    return f"{sentence.rstrip(' .;:,!?')} [{n}]."


def _api_name(finding: dict[str, Any]) -> str | None:
    """The documented name when the finding is an API's own documentation (a dotted identifier)."""
    title = str(finding.get("title") or "")
    return title if title and _TOKEN.fullmatch(title) else None


def _norm(sentence: str) -> str:
    return " ".join(_TOKEN.findall(sentence.lower()))


def confidence_of(top: float, second: float, coverage: float) -> float:
    """How far the best finding's relevance, its lead over the next, and the answer's coverage of
    the question's terms can be trusted, 0-1 (calibrated on ``bench/quality.py``)."""
    raw = 1.6 * (top - LOW_RELEVANCE) + 0.6 * max(0.0, top - second) + 0.35 * coverage
    return round(min(MAX_CONFIDENCE, max(0.0, raw)), 3)


MAX_CONFIDENCE = 0.95
"""No answer is certain: of the bench's answers this formula put at 1.0, one in ten had the wrong
[1] (a parser for "format a datetime", a framework's warning class for "emit a warning")."""


LOW_RELEVANCE = 0.30
"""Below this best relevance nothing in the sources answers the question."""
NO_MATCH_CONFIDENCE = 0.35
"""Answers under this confidence say "no strong match" rather than name an API as the answer."""


def summarize(question: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """An answer first, then how/why from the evidence: the top finding named as what to use with
    its lead sentence, a code example when its snippet has one, then up to three more sentences
    chosen for relevance and diversity (MMR: no repeats, nothing off the question's terms; another
    finding's sentence only when it is about the question: ``DENSITY``, whole, not a label). A
    section (not an API's docstring) opens on its sentence that shares most of the question's
    terms, and its other sentences need ``SECTION_OVERLAP`` of them (a manual page's chunk runs
    over several topics). Every sentence ends with its ``[n]``; one cut at
    ``MAX_SENTENCE_WORDS`` ends with an ellipsis. Headings, page headers and labels are never
    sentences (``_sentences``).

    Returns ``{"text", "confidence", "cited"}``. When the confidence is low (weak evidence, or
    the question's terms barely covered), the answer opens with "No strong match".

    >>> summarize("gather coroutines", [{"title": "asyncio.gather",
    ...     "snippet": "Use gather to run many coroutines at once.", "relevance": 0.9}])["text"]
    'Use `asyncio.gather`: Use gather to run many coroutines at once [1].'
    """
    if not findings:
        return {"text": "No strong match: no findings were retrieved.", "confidence": 0.0, "cited": []}
    query = _query_stems(question, ())
    ranked = sorted(range(len(findings)), key=lambda i: -float(findings[i].get("relevance") or 0.0))
    rel = [float(findings[i].get("relevance") or 0.0) for i in ranked]
    top_i = ranked[0]
    top = findings[top_i]
    snippet = str(top.get("snippet") or top.get("text") or "")
    own = _sentences(snippet)
    name = _api_name(top)
    label = f"`{name}`" if name else str(top.get("title") or top.get("location") or "the first finding")
    label = _CITATION_LIKE.sub(r"(\1)", label)
    opening = own[0] if own else ""
    if not name and own:
        # A section (not an API's docstring) may open on something else (a parameter list's
        # first entry, a note): its sentence most about the question opens the answer.
        opening = max(own, key=lambda x: len(query & stems(x)))
        own = [opening, *(x for x in own if x is not opening)]
    coverage = (
        len(query & (stems(opening) | stems(str(top.get("title") or "")))) / len(query) if query else 0.0
    )
    confidence = confidence_of(rel[0], rel[1] if len(rel) > 1 else 0.0, coverage)
    verb = "Use" if name else "See"
    if confidence < NO_MATCH_CONFIDENCE:
        first = f"No strong match in the sources; the closest is {label}"
    else:
        first = f"{verb} {label}"
    first = f"{first}: {opening}" if opening else first
    pieces = [_cite(first, top_i + 1)]
    picked = [(top_i, opening)] if opening else []
    example = code_example(snippet)
    if example and confidence >= NO_MATCH_CONFIDENCE:
        pieces.append(f"For example:\n\n```python\n{example}\n```\n")
    # MMR over the top finding's other sentences and those of findings nearly as relevant:
    # on the question's terms first, unlike what is already said.
    pool: list[tuple[float, int, str]] = []
    for rank, i in enumerate(ranked[:TOP_FINDINGS]):
        r = float(findings[i].get("relevance") or 0.0)
        if i != top_i and (r < LOW_RELEVANCE or r < 0.85 * rel[0]):
            continue  # a weaker finding's sentences drift off the question
        body = (
            own[1:]
            if i == top_i
            else _sentences(str(findings[i].get("snippet") or findings[i].get("text") or ""))
        )
        for sentence in body:
            st = stems(_LINK_TARGET.sub("]", sentence))  # a link's address is not its words
            hits = len(query & st)
            overlap = hits / len(query) if query else 0.0
            # Another finding's sentence must be about the question, not mention its words in
            # passing: a good share of them, densely, in a whole sentence (a cut one runs on).
            if sentence.endswith(":"):
                continue  # introduces a list or block the summary does not show
            # A section's other sentences (a manual page's chunk) may be about anything; an
            # API's docstring's are about the API named first.
            if overlap > 0 and (
                (i == top_i and (name or overlap >= SECTION_OVERLAP))
                or (overlap >= 0.34 and hits >= DENSITY * len(st) and not sentence.endswith(ELLIPSIS))
            ):
                pool.append((overlap + 0.3 * r - 0.05 * rank, i, sentence))
    said = [stems(s) for _, s in picked] + [stems(first)]
    seen_text = {_norm(s) for _, s in picked}
    prose = 1
    while pool and prose < MAX_SENTENCES:

        def mmr(item: tuple[float, int, str]) -> float:
            st = stems(item[2])
            redundancy = max((len(st & d) / (len(st | d) or 1) for d in said), default=0.0)
            return item[0] - 0.8 * redundancy

        best = max(pool, key=mmr)
        pool.remove(best)
        if _norm(best[2]) in seen_text or mmr(best) <= 0.05:
            continue
        seen_text.add(_norm(best[2]))
        said.append(stems(best[2]))
        picked.append((best[1], best[2]))
        pieces.append(_cite(best[2], best[1] + 1))
        prose += 1
    if len(pieces) == 2 and pieces[1].startswith("For example"):
        pieces.append(_cite("The example above is from the same documentation", top_i + 1))
    # A space between sentences, none after the example block (its code keeps its indentation).
    text = "".join((" " if k and not pieces[k - 1].endswith("\n") else "") + p for k, p in enumerate(pieces))
    # what the sentences cite; the example's own brackets ("sys.argv[0].") are code
    cited = sorted({int(n) for p in pieces if not p.startswith("For example") for n in _CITED.findall(p)})
    return {"text": text, "confidence": confidence, "cited": cited}
