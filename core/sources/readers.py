"""Readers that turn one file of the user's folder into titled sections.

``.md`` (ATX headings), ``.rst`` (underlined titles), ``.txt`` (manual-page style ALL-CAPS
headings, else one section), ``.html``/``.htm`` (stdlib ``html.parser``; sections at
``h1``-``h6``, script/style dropped) and ``.pdf`` (pypdf; one section per page, ``#page=N``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader

from core.sources.markup import clean_markdown, link_targets, rst_to_markdown
from core.sources.text import Section, split_markdown, split_plain, split_rst

SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".html", ".htm", ".pdf")


class _HtmlSections(HTMLParser):
    _HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "pre", "section", "article", "table", "dd", "dt"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections: list[Section] = []
        self._heading = ""
        self._buf: list[str] = []
        self._in_heading: list[str] | None = None
        self._in_title = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._HEADINGS:
            self._flush()
            self._in_heading = []
        elif tag in self._BLOCKS:
            self._buf.append("\n\n" if tag in {"p", "div", "section", "article", "pre"} else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in self._HEADINGS and self._in_heading is not None:
            self._heading = " ".join("".join(self._in_heading).split())
            self._in_heading = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
        elif self._in_heading is not None:
            self._in_heading.append(data)
        else:
            self._buf.append(data)

    def _flush(self) -> None:
        body = re.sub(r"[ \t]+", " ", "".join(self._buf))
        body = re.sub(r"\n\s*\n\s*", "\n\n", body).strip()
        if body:
            self.sections.append(Section(self._heading, body))
        self._buf = []

    def close(self) -> None:
        super().close()
        self._flush()


def read_html(path: Path) -> tuple[str, list[Section]]:
    parser = _HtmlSections()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return " ".join(parser.title.split()), parser.sections


def read_pdf(path: Path) -> tuple[str, list[Section]]:
    reader = PdfReader(str(path))
    title = ""
    if reader.metadata is not None and reader.metadata.title:
        title = str(reader.metadata.title)
    sections = []
    for n, page in enumerate(reader.pages, start=1):
        text = (page.extract_text() or "").strip()
        if text:
            sections.append(Section(f"page={n}", text))
    return title, sections


def _read_text(split: Callable[[str], list[Section]]) -> Callable[[Path], tuple[str, list[Section]]]:
    def read(path: Path) -> tuple[str, list[Section]]:
        return "", split(path.read_text(encoding="utf-8", errors="replace"))

    return read


def read_markdown(path: Path) -> tuple[str, list[Section]]:
    sections = split_markdown(path.read_text(encoding="utf-8", errors="replace"))
    return "", [Section(s.heading, body) for s in sections if (body := clean_markdown(s.body))]


def read_rst(path: Path) -> tuple[str, list[Section]]:
    """Sections of a reST file, their bodies as Markdown (named links resolved across the file)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    targets = link_targets(text)
    sections = [Section(s.heading, clean_markdown(rst_to_markdown(s.body, targets))) for s in split_rst(text)]
    return "", [s for s in sections if s.body]


READERS: dict[str, Callable[[Path], tuple[str, list[Section]]]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".rst": read_rst,
    ".txt": _read_text(split_plain),
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
}


def read_file(path: Path) -> tuple[str, list[Section]]:
    """``(document title or "", sections)`` of one supported file; raises OSError/ValueError-like
    errors from the parsers for unreadable files.

    >>> # read_file(Path("samples/docs/redis-cli.md"))[1][0].heading
    """
    return READERS[path.suffix.lower()](path)
