"""Text handling shared by every corpus: the tokenizer (index and query alike) and the chunker.

Identifiers are split into words as well as kept whole (``create_task`` -> ``create_task create
task``; ``TaskGroup`` -> ``taskgroup task group``), so a question in plain English meets the
dotted names that docstrings are filed under.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset(STOPWORDS_EN) | frozenset(
    # bm25s's English list, plus question words that appear in nearly every query.
    "how do does can what which when why i you we me my your use using should would get".split()
)

TARGET_WORDS = 220
MAX_WORDS = 300


_local = threading.local()  # Snowball stemmers are not safe to share between threads


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """One lower-case word's stem, remembered (a hot path stems the same words run after run).

    >>> stem("finishes")
    'finish'
    """
    return str(_stemmer().stemWord(word))


def _words(text: str) -> Iterator[str]:
    for raw in _WORD.findall(text):
        low = raw.lower()
        yield low
        parts = [p.lower() for piece in raw.split("_") for p in _CAMEL.findall(piece)]
        if len(parts) > 1:
            yield from parts


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, English-stemmed tokens (compound identifiers also split).

    >>> tokenize("How do I run coroutines with asyncio.TaskGroup?")
    ['run', 'coroutin', 'asyncio', 'taskgroup', 'task', 'group']
    """
    words = [w for w in _words(text) if len(w) > 1 and w not in _STOP and not w.isdigit()]
    return list(_stemmer().stemWords(words))


def stem_words(text: str) -> list[str]:
    """Lower-cased, stemmed words, stop words kept (``tokenize`` drops them).

    >>> stem_words("How do I get it?")
    ['how', 'do', 'i', 'get', 'it']
    """
    return list(_stemmer().stemWords([w for w in _words(text) if not w.isdigit()]))


_SIGNATURE = re.compile(r"^\s*[\w.]+\([^)]*\)(\s*->\s*[^\n]+)?\s*")
SIGNATURE_SCAN = 8000
_CALL_START = re.compile(r"\s*[A-Za-z_][\w.]*\(")


def strip_signature(text: str) -> str:
    """A docstring document without its leading ``name(args)`` signature line. The signature ends
    at the first blank line (the collector puts one after it) where its brackets balance: nested
    brackets and defaults with blank lines in them are part of it. A chunk that is all signature
    (cut from one longer than a chunk) has no text.

    >>> strip_signature("f(x: Callable[[int], str] = g()) -> None\\n\\nDo it.")
    'Do it.'
    """
    if _CALL_START.match(text):
        start = 0
        for _ in range(8):  # a default value may hold blank lines: the first balanced one ends it
            end = text.find("\n\n", start, SIGNATURE_SCAN)
            if end == -1:
                break
            head = text[:end]
            if sum(map(head.count, "([{")) == sum(map(head.count, ")]}")):
                return text[end + 2 :].lstrip()
            start = end + 2
        if end == -1 and sum(map(text.count, "([{")) > sum(map(text.count, ")]}")):
            return ""  # a chunk cut from inside a long signature: all of it is signature
    return _SIGNATURE.sub("", text, count=1)


def name_words(dotted: str) -> str:
    """The words of a dotted name, for a chunk's header.

    >>> name_words("asyncio.tasks.gather")
    'asyncio tasks gather'
    """
    return " ".join(p for p in re.split(r"[._:/#\-\s]+", dotted) if p)


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs; a fenced code block stays one paragraph, blank lines and all."""
    out: list[str] = []
    open_fence = False
    for para in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not para:
            continue
        if open_fence:
            out[-1] += "\n\n" + para
        else:
            out.append(para)
        if para.count("```") % 2:
            open_fence = not open_fence
    return out


def split_long(para: str, target: int = TARGET_WORDS) -> list[str]:
    """A paragraph too long for one chunk, in pieces of about ``target`` words that keep its form:
    lines split between lines (a PDF page's, a manual's), and a code block's pieces are each
    fenced again (with the block's language), so every chunk still renders as code. Only a line
    longer than ``target`` words is cut between words (as one run-on paragraph is).

    >>> parts = split_long("```python\\n" + "x = 1\\n" * 9 + "```", 12)
    >>> [(p.splitlines()[0], len(p.splitlines()) - 2, p.splitlines()[-1]) for p in parts]
    [('```python', 3, '```'), ('```python', 4, '```'), ('```python', 2, '```')]
    >>> split_long("One two.\\nThree four five six.\\nSeven.", 6)
    ['One two.\\nThree four five six.', 'Seven.']
    """
    lines = para.split("\n")
    if len(lines) == 1:
        return _pack(para.split(), target, " ")
    # Between lines; a piece that ends inside a code block closes it, and the next reopens it.
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    fence = ""  # the open code block's first line, if any
    for line in lines:
        n = len(line.split())
        if size and size + n > target:
            pieces.append("\n".join([*current, "```"] if fence else current))
            current, size = ([fence] if fence else []), 0
        if n > target and not fence:  # one run-on line of prose
            pieces.extend(_pack(line.split(), target, " "))
            continue
        marker = line.lstrip().startswith("```")
        # prose lines lose their layout's runs of spaces (a PDF page's columns); code keeps it
        current.append(line if fence or marker else " ".join(line.split()))
        size += n
        if marker:
            fence = "" if fence else line.strip()
    if size:
        pieces.append("\n".join(current))
    return pieces


def _pack(units: list[str], target: int, joiner: str) -> list[str]:
    """``units`` (words, lines) joined into pieces of at most ``target`` words; a unit longer
    than ``target`` words is cut between words."""
    pieces: list[list[str]] = [[]]
    size = 0
    for unit in units:
        words = unit.split()
        if len(words) > target:
            pieces.extend([" ".join(words[i : i + target])] for i in range(0, len(words), target))
            pieces.append([])
            size = 0
            continue
        if size and size + len(words) > target:
            pieces.append([])
            size = 0
        pieces[-1].append(unit)
        size += len(words)
    return [joiner.join(p) for p in pieces if p]


def chunk_text(text: str, target: int = TARGET_WORDS, max_words: int = MAX_WORDS) -> list[str]:
    """Split ``text`` into chunks of about ``target`` words (never more than ``max_words``),
    on paragraph boundaries when possible.

    >>> [len(c.split()) for c in chunk_text(("word " * 500).strip())]
    [220, 220, 60]
    """
    paras = paragraphs(text)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for para in paras:
        n = len(para.split())
        if n > max_words:
            if current:
                chunks.append("\n\n".join(current))
                current, size = [], 0
            chunks.extend(split_long(para, target))
            continue
        if current and size + n > max_words:
            chunks.append("\n\n".join(current))
            current, size = [], 0
        current.append(para)
        size += n
        if size >= target:
            chunks.append("\n\n".join(current))
            current, size = [], 0
    if current:
        # A short tail joins the previous chunk when the result stays under the limit.
        if chunks and size < target // 3 and len(chunks[-1].split()) + size <= max_words:
            chunks[-1] = chunks[-1] + "\n\n" + "\n\n".join(current)
        else:
            chunks.append("\n\n".join(current))
    return chunks


@dataclass(frozen=True, slots=True)
class Section:
    """A titled piece of a document, before chunking."""

    heading: str
    body: str


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def split_markdown(text: str) -> list[Section]:
    """Sections of a Markdown text, one per ATX heading (fenced code is not scanned for headings)."""
    sections: list[Section] = []
    heading, lines, fenced = "", list[str](), False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        m = None if fenced else _MD_HEADING.match(line)
        if m:
            if "".join(lines).strip():
                sections.append(Section(heading, "\n".join(lines).strip()))
            heading, lines = m.group(2).strip(), []
        else:
            lines.append(line)
    if "".join(lines).strip():
        sections.append(Section(heading, "\n".join(lines).strip()))
    return sections


def split_rst(text: str) -> list[Section]:
    """Sections of a reStructuredText text, one per underlined (or over+underlined) title."""
    lines = text.splitlines()
    sections: list[Section] = []
    heading, body = "", list[str]()
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        is_title = (
            line.strip()
            and not _RST_UNDERLINE.match(line)
            and _RST_UNDERLINE.match(nxt)
            and len(nxt.strip()) >= len(line.strip()) - 1
        )
        if is_title:
            if body and _RST_UNDERLINE.match(body[-1]):
                body.pop()  # overline of an over+underlined title
            if "".join(body).strip():
                sections.append(Section(heading, "\n".join(body).strip()))
            heading, body = line.strip(), []
            i += 2
            continue
        body.append(line)
        i += 1
    if "".join(body).strip():
        sections.append(Section(heading, "\n".join(body).strip()))
    return sections


def slug(heading: str) -> str:
    """A URL-fragment form of a heading: ``Running Tasks Concurrently`` -> ``running-tasks-concurrently``."""
    return re.sub(r"[^\w]+", "-", heading.lower()).strip("-")


_CAPS_HEADING = re.compile(r"^[A-Z][A-Z0-9 ,/&()\-]{2,60}$")


def split_plain(text: str) -> list[Section]:
    """Sections of a plain text: unindented ALL-CAPS lines (manual-page style) start a section;
    a text without such lines is one section."""
    sections: list[Section] = []
    heading, lines = "", list[str]()
    for line in text.splitlines():
        if _CAPS_HEADING.match(line.rstrip()) and not line[:1].isspace():
            if "".join(lines).strip():
                sections.append(Section(heading, "\n".join(lines).strip()))
            heading, lines = line.strip().title(), []
        else:
            lines.append(line)
    if "".join(lines).strip():
        sections.append(Section(heading, "\n".join(lines).strip()))
    return sections
