"""The Python Library Reference (Sphinx HTML) as text per documented API name.

Debian's ``python3.X-doc`` package installs the reference under
``/usr/share/doc/python3.X/html/library/``. Each documented object there is a
``<dl class="py function|class|method|...">`` whose ``<dt id="asyncio.gather">`` names it; its
``<dd>`` is the prose ("Run awaitable objects in the aws sequence concurrently"). Docstrings are
often terse about *why* one would use an API; the reference says it, so the stdlib source
indexes both when the reference is installed, and docstrings alone when it is not.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from html.parser import HTMLParser
from pathlib import Path


def default_reference_dir() -> Path:
    """Where Debian's ``python3.X-doc`` puts the Library Reference for this interpreter."""
    return Path(f"/usr/share/doc/python{sys.version_info[0]}.{sys.version_info[1]}/html/library")


_CODE_MARK = "\x00"
_CODE_REF = re.compile(r"\x00(\d+)\x00")
_CELL_MARK = "\x01"
_CELL_SEP = re.compile(r"\s*\x01\s*")
_LANGS = {"python3": "python", "pycon": "python", "default": "python", "none": "", "text": ""}
"""Sphinx's highlight classes (``highlight-python3``) as fence languages."""


class _Entries(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: dict[str, list[str]] = {}
        self._in_py_dl = 0
        self._dl_stack: list[bool] = []
        self._pending: str | None = None
        self._dd_stack: list[str | None] = []
        self._skip = 0
        self._sig: list[str] | None = None
        self.signatures: dict[str, str] = {}
        self.sections: dict[str, str] = {}
        """The heading of the section each name is documented under ("Running Tasks Concurrently")."""
        self._heading: list[str] | None = None
        self._section = ""
        self.code: list[str] = []
        """Every ``<pre>`` block, verbatim; an entry's text holds ``_CODE_MARK`` + its index."""
        self._pre: list[str] | None = None
        self._lang = ""
        self._cell = 0  # inside a table cell: its paragraphs run on
        self._row_cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "dl":
            self._dl_stack.append("py" in classes)
        elif tag == "dt" and self._dl_stack and self._dl_stack[-1] and a.get("id"):
            self._pending = a["id"]
            self._sig = []
            if self._section:
                self.sections.setdefault(str(a["id"]), self._section)
        elif tag in {"h1", "h2", "h3", "h4"}:
            self._heading = []
        elif tag == "dd":
            owner = self._pending if self._dl_stack and self._dl_stack[-1] else None
            self._dd_stack.append(owner)
            self._pending = None
            if owner:
                self.entries.setdefault(owner, [])
        elif tag == "pre":
            self._pre = []
        elif tag == "div" and (lang := next((c[10:] for c in classes if c.startswith("highlight-")), None)):
            self._lang = _LANGS.get(lang, lang)
        elif tag == "tr":
            self._emit("\n\n")
            self._row_cells = 0
        elif tag in {"td", "th"}:
            # A table row reads as one line, "FIRST_COMPLETED: The function will return when ...":
            # its cells as separate paragraphs were a name with no sentence and a sentence with no name.
            self._emit(_CELL_MARK if self._row_cells else "")
            self._row_cells += 1
            self._cell += 1
        elif tag in {"p", "li", "div", "br"}:
            self._emit(" " if self._cell else "\n\n" if tag == "p" else "\n")
        elif tag == "a" and "headerlink" in classes:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._pre is not None:
            # Kept verbatim (the prose around it is re-flowed): an example reads as code.
            self.code.append(f"```{self._lang}\n{''.join(self._pre).strip(chr(10))}\n```")
            self._emit(f"\n\n{_CODE_MARK}{len(self.code) - 1}{_CODE_MARK}\n\n")
            self._pre, self._lang = None, ""
        elif tag in {"td", "th"} and self._cell:
            self._cell -= 1
        elif tag == "tr":
            self._emit("\n\n")
        elif tag == "dl" and self._dl_stack:
            self._dl_stack.pop()
        elif tag == "dt" and self._sig is not None:
            if self._pending:
                self.signatures[self._pending] = " ".join("".join(self._sig).split())
            self._sig = None
        elif tag == "dd" and self._dd_stack:
            self._dd_stack.pop()
        elif tag == "a" and self._skip:
            self._skip -= 1
        elif tag in {"h1", "h2", "h3", "h4"} and self._heading is not None:
            self._section = " ".join("".join(self._heading).split())
            self._heading = None

    def _emit(self, text: str) -> None:
        # Text belongs to the innermost documented entry only: a class's methods are their own entries.
        for owner in reversed(self._dd_stack):
            if owner is not None:
                self.entries[owner].append(text)
                return

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._heading is not None:
            self._heading.append(data)
            return
        if self._pre is not None:
            self._pre.append(data)
        elif self._sig is not None:  # a signature line belongs to its own entry, not the enclosing class
            self._sig.append(data)
        else:
            self._emit(data)


def _code_block(code: list[str], mark: re.Match[str]) -> str:
    return code[int(mark.group(1))]


def read_reference(folder: Path) -> dict[str, str]:
    """``{documented name: its prose}`` from every ``*.html`` page of the Library Reference folder.

    >>> # read_reference(default_reference_dir())["asyncio.gather"][:56]
    >>> # 'Run awaitable objects in the aws sequence concurrently.'
    """
    return read_reference_sections(folder)[0]


def read_reference_sections(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``read_reference`` plus ``{documented name: the heading of its section}``."""
    out: dict[str, str] = {}
    sections: dict[str, str] = {}
    if not folder.is_dir():
        return out, sections
    for page in sorted(folder.glob("*.html")):
        parser = _Entries()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        for name, parts in parser.entries.items():
            text = re.sub(r"[ \t]+", " ", "".join(parts))
            text = re.sub(r"\n\s*\n\s*", "\n\n", text).strip()
            text = re.sub(r"(?<!\n)\n(?!\n)", " ", text)  # Sphinx wraps lines inside paragraphs
            text = _CELL_SEP.sub(": ", _CODE_REF.sub(partial(_code_block, parser.code), text))
            sig = parser.signatures.get(name, "")
            if text and name not in out:
                out[name] = f"{sig}\n\n{text}" if sig else text
        for name, heading in parser.sections.items():
            sections.setdefault(name, heading)
    return out, sections
