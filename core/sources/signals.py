"""Per-chunk ranking signals, derived from the corpus at build time and saved with the index
(``Features``, ``Namespaces``); pure functions of the corpus, never of expected answers.
``core.sources.rank`` scores queries with them.

Per chunk:

- ``prior``: what kind of text it is. A public callable's or class's own documentation is the
  reference (0); a module or package overview (-0.04), a name filed deep inside a framework's
  internals (``streamlit.elements.widgets...``, -0.04 per level past two), a private ``_name``
  (-0.10), a README section (-0.03), a changelog / release-notes section (-0.18), a test (-0.15);
  a near-empty docstring loses up to 0.05 (it rarely answers a question on its own); a later
  chunk of an API's docs -0.03, or -0.04 when its opening repeats text other documents have too
  (a framework's shared parameter list: ``boilerplate``); a member of a module whose import warns
  it is deprecated, or of an old API kept beside its successor (``pkg.v1``, ``compat``,
  ``legacy``), -0.08; a name the corpus refers to as code gains up to 0.15.
- ``name``: the documented name's last two parts, lower-cased (``datetime fromisoformat``).
- ``lead``: stems of its first sentence (after any ``name(args)`` signature line).
- ``anchor``: stems of the sentences in other documents that mention the API as code (anchor
  text: what the rest of the corpus says it is for; ``anchors``).
- ``contrast``: the word that tells it from sibling APIs of the same namespace named alike
  (``gethostname`` / ``sethostname``: get, set; ``DictReader`` / ``DictWriter``; ``siblings``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.sources.collect import DEPRECATED_LABEL
from core.sources.text import strip_signature, tokenize

ANCHOR_STEMS = 20
LEAD_WORD_NAMES = 5
W_AUTHORITY, W_REFERENCE = 0.15, 0.05
AUTHORITY_SATURATION = 30
SECTION_AUTHORITY = 0.75
LATER_PRIOR, SHARED_PRIOR = -0.03, -0.04
BOILERPLATE_WORDS, BOILERPLATE_DOCS = 30, 1
DEPRECATED_PRIOR = -0.08
OVERVIEW_PRIOR, DEPTH_PRIOR, PRIVATE_PRIOR, SHORT_PRIOR = -0.04, -0.04, -0.10, -0.05
_WORD = re.compile(r"\w+")
_CHANGELOG = re.compile(
    r"change ?log|changes|release notes?|history|what'?s new|news|^v?\d+(\.\d+)+\b|^unreleased|"
    r"^(added|fixed|changed|removed|deprecated|security|breaking changes?)$",
    re.I,
)
_MENTION = re.compile(r"`~?([A-Za-z_][\w.]*[\w])(?:\(\))?`|([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\(")
_DEPRECATED = re.compile(rf"^{re.escape(DEPRECATED_LABEL)}", re.M)
_LEGACY = re.compile(r"(^|\.)(v\d+|_?compat|legacy)(\.|$)")
_TEST = re.compile(r"(^|[._/])(tests?|testing|conftest)([._/]|$)")
_FILE = re.compile(r"\.(md|markdown|txt|rst|html?|pdf)(#|$)")
_REFERENCE = re.compile(r"(?:^|\n)Library reference(?: \(([^)\n]*)\))?:\s*\n")
"""How ``core.sources.stdlib`` appends the Library Reference's text to a docstring."""
_FIRST_WORD = re.compile(r"[\s.]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_FIRST_SENTENCE = re.compile(r"(?<=[.!?:])\s|\n\s*\n")
_BARE = re.compile(r"[A-Za-z_][\w.]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass(frozen=True, slots=True)
class Features:
    """The query-independent ranking features of one chunk (saved with the index)."""

    prior: float
    name: str
    lead: tuple[str, ...]
    anchor: tuple[str, ...] = ()
    """Stems of the sentences elsewhere in the corpus that mention this API by name (what other
    documents say it is for: "run blocking IO in a thread with ``to_thread()``")."""
    contrast: tuple[str, ...] = ()
    """When sibling APIs differ from this one's name in one word only (``gethostname`` and
    ``sethostname``, ``DictReader`` and ``DictWriter``): this name's word, then the siblings'
    (``('get', 'set')``). A question's action word picks one of them (``siblings``)."""
    data: bool = False
    """A data attribute's or constant's own documentation (``signal.SIGTERM``, ``date.day``):
    what a question names, or the value an API returns, seldom what to call (``is_data``)."""


_ASIDE = re.compile(r"^(?:>[^\n]*(?:\n|$))+\s*")
"""Quoted lines opening a text (an admonition: ``> **Usage Documentation:** [link]``)."""


def opening(text: str) -> str:
    """A text after its signature line and any aside quoted at its start: where it says what it is.

    >>> opening("dump(self)\\n\\n> **Usage Documentation:** [dump](x.md)\\n\\nGenerate a dictionary.")
    'Generate a dictionary.'
    """
    return _ASIDE.sub("", strip_signature(text).lstrip(), count=1)


def lead_text(text: str, words: int = 40) -> str:
    """The first sentence of a text after its signature line (at most ``words`` words)."""
    body = opening(text).strip()
    first = _FIRST_SENTENCE.split(body, maxsplit=1)[0]
    return " ".join(first.split()[:words])


def embed_text(title: str, text: str, reference: str = "") -> str:
    """What a chunk's embedding is computed from: its name's words, its document's Library
    Reference opening (``reference``) if any, and its own opening."""
    name = " ".join(re.split(r"[._#/:\-\s]+", title.split(" / ")[-1] if " / " in title else title)[-3:])
    body = opening(text)
    lead = f"{reference} " if reference else ""
    return f"{name}. {lead}{' '.join(body.split()[:60])}"


def reference_openings(locations: Sequence[str], texts: Sequence[str]) -> dict[str, str]:
    """The Library Reference's opening sentence of each document that has one, by location
    (the reference part may sit in a later chunk; it speaks for every chunk of its document)."""
    whole: dict[str, list[str]] = {}
    for location, text in zip(locations, texts, strict=True):
        whole.setdefault(location, []).append(text)
    out: dict[str, str] = {}
    for location, parts in whole.items():
        text = "\n\n".join(parts)  # a document's chunks, in order: the label may end one
        m = _REFERENCE.search(text)
        if m:
            heading = f"{m.group(1)}: " if m.group(1) else ""
            out[location] = heading + lead_text(text[m.end() :])
    return out


def mentions(texts: Sequence[str]) -> Counter[str]:
    """How many texts mention each name as code (in backticks, or called: ``name(``), counted once
    per text, under its last part and under its last two parts (``Counter``, ``collections.Counter``).
    """
    counts: Counter[str] = Counter()
    for text in texts:
        names: set[str] = set()
        for m in _MENTION.finditer(text):
            parts = (m.group(1) or m.group(2)).strip(".").split(".")
            names.add(parts[-1])
            if len(parts) > 1:
                names.add(".".join(parts[-2:]))
        counts.update(names)
    return counts


def features(titles: Sequence[str], locations: Sequence[str], texts: Sequence[str]) -> list[Features]:
    """The prior, name and lead of every chunk of one corpus."""
    # A dotted title others are filed under is a module/package (or a class, told apart by case).
    parents = {t.rsplit(".", 1)[0] for t in titles if "." in t and " " not in t}
    cited = mentions(texts)
    reference = {loc: frozenset(tokenize(t)) for loc, t in reference_openings(locations, texts).items()}
    # Every chunk filed under a module whose import warns that it is deprecated (cgi, crypt).
    deprecated = tuple(
        f"{loc}." for loc, text in zip(locations, texts, strict=True) if _DEPRECATED.search(text)
    )
    out = []
    opened: set[str] = set()
    shared = boilerplate(locations, texts)
    described = anchors(titles, texts)
    contrasts = siblings(titles, locations)
    for n, (title, location, text) in enumerate(zip(titles, locations, texts, strict=True)):
        f = _features(title, location, text, parents, cited, reference.get(location))
        prior = f.prior
        if location in opened and " " not in title:
            # A later chunk of an API's docs: parameter lists and notes; the opening says what
            # the API is for. One whose text its siblings share too (a framework's parameter
            # list) says nothing of this API in particular.
            prior = round(prior + (SHARED_PRIOR if n in shared else LATER_PRIOR), 4)
        opened.add(location)
        if deprecated and f"{location}.".startswith(deprecated):
            prior = round(prior + DEPRECATED_PRIOR, 4)
        data = is_data(title, text, parents)
        out.append(Features(prior, f.name, f.lead, described.get(title, ()), contrasts.get(title, ()), data))
    return out


def is_data(title: str, text: str, parents: set[str]) -> bool:
    """Whether a chunk documents a data attribute or a constant: its text opens on its bare name
    (no call signature, as the Library Reference documents data), and the name is not a module's
    and is a constant (``SIGTERM``) or an attribute (``day``), not a class or special form
    (``Optional``).

    >>> is_data("signal.SIGTERM", "signal.SIGTERM\\n\\nTermination signal.", set())
    True
    >>> is_data("signal.signal", "signal(signalnum, handler)\\n\\nSet the action.", set())
    False
    """
    if " " in title or "." not in title or title in parents:
        return False
    first = text.lstrip().split("\n", 1)[0].strip()
    last = title.rsplit(".", 1)[1]
    if not _BARE.fullmatch(first) or first.rsplit(".", 1)[-1] != last:
        return False
    return last.isupper() or last[:1].islower() or last[:1] == "_"


def name_parts(name: str) -> list[str]:
    """The lower-cased words of one name part (``DictReader`` -> ``['dict', 'reader']``)."""
    return [w.lower() for piece in name.split("_") for w in _CAMEL.findall(piece)]


def siblings(titles: Sequence[str], locations: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Per API whose name has sibling APIs in the same namespace that differ from it in one word
    only, that word and the siblings' words in its place: ``socket.gethostname`` ->
    ``('get', 'set')``. Derived from the corpus's names alone: which words tell two APIs apart is
    what the corpus's naming says (get/set, reader/writer, encode/decode...).

    >>> siblings(["m.DictReader", "m.DictWriter", "m.other"], ["m.DictReader", "m.DictWriter", "m.other"])
    {'m.DictReader': ('reader', 'writer'), 'm.DictWriter': ('writer', 'reader')}
    """
    names: dict[str, tuple[str, tuple[str, ...]]] = {}
    for title, location in zip(titles, locations, strict=True):
        if " " in title or _FILE.search(location) or location.startswith("pypi:") or "." not in title:
            continue
        parent, last = title.rsplit(".", 1)
        names[title] = (parent, tuple(name_parts(last)))
    leading = Counter(parts[0] for _, parts in names.values() if len(parts) > 1)
    # The words names often start with (get_, set_, read_...): a run-together name that starts
    # with one (``gethostname``) is that word and the rest.
    lead_words = sorted((w for w, n in leading.items() if n >= LEAD_WORD_NAMES and len(w) >= 3), key=len)
    slots: dict[tuple[str, tuple[str, ...]], dict[str, set[str]]] = {}
    for title, (parent, parts) in names.items():
        if len(parts) == 1:
            word = next((w for w in lead_words if parts[0].startswith(w) and len(parts[0]) - len(w) >= 3), "")
            parts = (word, parts[0][len(word) :]) if word else parts
        if len(parts) < 2:
            continue
        for i, word in enumerate(parts):
            key = (parent, (*parts[:i], "*", *parts[i + 1 :]))
            slots.setdefault(key, {}).setdefault(word, set()).add(title)
    # A name in several slots (``gethostname``: get/set before ``hostname``, and many names
    # after ``get``): the slot with the fewest alternatives is the sharpest contrast.
    best: dict[str, tuple[str, ...]] = {}
    for by_word in slots.values():
        if len(by_word) < 2:
            continue
        for word, named in by_word.items():
            others = tuple(sorted(w for w in by_word if w != word))
            for t in named:
                if t not in best or len(others) < len(best[t]) - 1:
                    best[t] = (word, *others)
    return dict(sorted(best.items()))


def boilerplate(locations: Sequence[str], texts: Sequence[str]) -> set[int]:
    """Indexes of the later chunks (not a document's first) whose opening mostly repeats text
    found in other documents: at least half of their opening's word 5-grams occur in
    ``BOILERPLATE_DOCS`` or more other documents (shared parameter lists, inherited notes).

    >>> sorted(boilerplate(["a", "a", "b", "b"], ["A one.", "label str the label to show it", "B two.",
    ...                                            "label str the label to show it"]))
    [1, 3]
    """
    grams: list[set[int]] = []
    owners: dict[int, set[str]] = {}
    seen: set[str] = set()
    later: list[int] = []
    for i, (location, text) in enumerate(zip(locations, texts, strict=True)):
        words = _WORD.findall(strip_signature(text[:2000]).lower())[:BOILERPLATE_WORDS]
        g = {hash(tuple(words[j : j + 5])) for j in range(max(1, len(words) - 4))} if words else set()
        grams.append(g)
        for h in g:
            owners.setdefault(h, set()).add(location)
        if location in seen:
            later.append(i)
        seen.add(location)
    out = set()
    for i in later:
        g = grams[i]
        common = sum(len(owners[h]) > BOILERPLATE_DOCS for h in g)
        if g and common * 2 >= len(g):
            out.add(i)
    return out


def anchors(titles: Sequence[str], texts: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Per API name, the ``ANCHOR_STEMS`` most frequent stems of the sentences in other
    documents that mention it as code (anchor text). A mention names an API by its last two
    parts (``asyncio.gather``), or by its last part alone when no other API ends with it and
    it is distinctive or bare (``to_thread()``); a mention two or more APIs could mean is left
    out, and so is a document's mention of itself.

    >>> titles = ["m.slow", "m.to_thread"]
    >>> anchors(titles, ["Slow down.", "x"])
    {}
    >>> anchors(titles, ["Run blocking IO in a thread with to_thread().", "x"])["m.to_thread"]
    ('block', 'io', 'run', 'thread', 'to_thread')
    """
    by_two: dict[str, set[str]] = {}
    by_last: dict[str, set[str]] = {}
    for t in set(titles):
        if " " in t:
            continue
        parts = t.split(".")
        if len(parts) > 1:
            by_two.setdefault(".".join(parts[-2:]), set()).add(t)
        by_last.setdefault(parts[-1], set()).add(t)
    bags: dict[str, Counter[str]] = {}
    for title, text in zip(titles, texts, strict=True):
        for sentence in _SENTENCE.split(text):
            stems: list[str] | None = None
            for m in _MENTION.finditer(sentence):
                parts = (m.group(1) or m.group(2)).strip(".").split(".")
                named = by_two.get(".".join(parts[-2:]), set()) if len(parts) > 1 else set()
                last = parts[-1]
                alone = by_last.get(last, set())
                if not named and len(alone) == 1 and (len(parts) == 1 or _distinctive(last)):
                    named = alone
                named = named - {title}
                if not named or len(named) > 2:
                    continue
                if stems is None:
                    stems = tokenize(sentence)
                for t in named:
                    bags.setdefault(t, Counter()).update(set(stems))
    # ties broken by the stem, not by insertion order (which follows set order, so the string hash
    # seed: two builds of one corpus would differ)
    return {
        t: tuple(sorted(s for s, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:ANCHOR_STEMS]))
        for t, c in bags.items()
    }


def _distinctive(name: str) -> bool:
    """``TTLCache``, ``stop_after_attempt``: a name no English word is spelled like."""
    return "_" in name.strip("_") or any(c.isupper() for c in name[1:])


def authority(title: str, cited: Counter[str]) -> float:
    """0-1: how often the rest of the corpus refers to this name as code (a documented, used API).
    A plain lower-case last part (``get``, ``encode``) only counts with its parent (``os.getenv``);
    a distinctive one (``TTLCache``, ``stop_after_attempt``) also counts alone, at half weight."""
    parts = title.split(".")
    n = cited.get(".".join(parts[-2:]), 0) if len(parts) > 1 else 0
    last = parts[-1]
    if _distinctive(last):
        n += cited.get(last, 0) // 2
    return min(1.0, math.log1p(n) / math.log1p(AUTHORITY_SATURATION))


def _features(
    title: str,
    location: str,
    text: str,
    parents: set[str],
    cited: Counter[str],
    reference: frozenset[str] | None,
) -> Features:
    prior = 0.0
    is_api = " " not in title and not _FILE.search(location) and not location.startswith("pypi:")
    if location.startswith("pypi:"):
        heading = title.split(" / ", 1)[1] if " / " in title else ""
        prior -= 0.03
        if heading and _CHANGELOG.search(heading.strip()):
            prior -= 0.18
    elif _FILE.search(location):
        heading = title.split(" / ", 1)[1] if " / " in title else ""
        if heading and _CHANGELOG.search(heading.strip()):
            prior -= 0.18
    if is_api:
        parts = title.split(".")
        if title in parents and parts[-1][:1].islower():
            prior += OVERVIEW_PRIOR  # a module overview: about many things, the answer to few
        prior += DEPTH_PRIOR * max(0, len(parts) - 3)
        if any(p.startswith("_") and p != "__init__" for p in location.split(".")):
            prior += PRIVATE_PRIOR
        prior += W_AUTHORITY * authority(title, cited)
        if reference is not None:
            prior += W_REFERENCE  # the public API the Python docs describe
        if _LEGACY.search(location):
            prior += DEPRECATED_PRIOR  # an old API kept beside its successor (pydantic.v1)
    elif _FILE.search(location):
        prior += W_AUTHORITY * SECTION_AUTHORITY  # a section of the user's documents
    if _TEST.search(location.lower()):
        prior -= 0.15
    words = len(strip_signature(text).split())
    if words < 12:
        prior += SHORT_PRIOR * (12 - words) / 12
    if " / " in title:  # a section: its document's first word (file stem, distribution) and heading
        base, heading = title.split(" / ", 1)
        name = f"{_FIRST_WORD.split(base, maxsplit=1)[0]} {heading}".lower()
    else:
        name = " ".join(re.split(r"[._#/:\-\s]+", title)[-2:]).lower()
    lead = set(tokenize(lead_text(text)))
    if reference:  # the Library Reference's own opening sentence is a lead too
        lead |= reference
    return Features(round(prior, 4), name, tuple(sorted(lead)))


@dataclass(frozen=True, slots=True)
class Namespaces:
    """Which package or module each chunk is filed under (the first part of its name; a README
    section's distribution), and how distinctive each one's name is as a query word: the share
    of the chunks containing the name's stem that belong to it (``tenacity`` ~0.8: a question
    saying it means that package; ``random`` or ``copy`` ~0.1: an English word first)."""

    of: np.ndarray
    """Per chunk, the index of its namespace (-1: none, e.g. a section of the user's documents)."""
    by_stem: dict[str, tuple[int, float]]
    """Stem of a namespace name -> (namespace index, distinctiveness 0-1)."""


def namespace_of(title: str, location: str) -> str:
    """The package, module or distribution a chunk is filed under, or ``""``.

    >>> namespace_of("tenacity.stop_after_attempt", "tenacity.stop.stop_after_attempt")
    'tenacity'
    >>> namespace_of("httpx 0.28 — HTTP client / Async", "pypi:httpx#async")
    'httpx'
    """
    if location.startswith("pypi:"):
        return location[5:].split("#", 1)[0].lower()
    if _FILE.search(location) or " " in title:
        return ""
    return title.split(".", 1)[0].lower()


def namespaces(titles: Sequence[str], locations: Sequence[str], df: Callable[[str], int]) -> Namespaces:
    """The ``Namespaces`` of a corpus; ``df`` gives a stem's document frequency in the index."""
    names: dict[str, int] = {}
    of = np.full(len(titles), -1, dtype=np.int64)
    size: Counter[int] = Counter()
    for i, (title, location) in enumerate(zip(titles, locations, strict=True)):
        ns = namespace_of(title, location)
        if ns:
            of[i] = names.setdefault(ns, len(names))
            size[of[i]] += 1
    by_stem: dict[str, tuple[int, float]] = {}
    for ns, j in names.items():
        # The whole name's stem (``pydantic_ai``) and, for a one-word name, that word.
        for stem in tokenize(ns)[:1]:
            d = min(1.0, size[j] / max(1, df(stem)))
            if d > by_stem.get(stem, (-1, 0.0))[1]:
                by_stem[stem] = (j, d)
    return Namespaces(of, by_stem)
