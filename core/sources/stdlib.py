"""The ``stdlib`` source: docstrings of the Python standard library (+ ``pydoc_data`` topics),
enriched with the Python Library Reference when it is installed (Debian ``python3.X-doc``).

Collection imports ~500 modules in a subprocess (``core.sources.collect``, about a second) and
parses the reference HTML (about 4 s); both are skipped when the cheap fingerprint (the standard
library's and the reference's file paths, mtimes and sizes, the interpreter version and the
collector's code) is unchanged.

Each API is one document: its docstring, then (if present) the reference prose for the same
public name, so ``asyncio.tasks.gather`` reads "Return a future aggregating results..." and also
"Run awaitable objects in the aws sequence concurrently". Names documented only in the reference
become documents of their own.
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
from pathlib import Path

import xxhash

from core.sources import collect
from core.sources.index import Document, open_index
from core.sources.indexed import IndexedSource
from core.sources.markup import docstring_to_markdown
from core.sources.reference import default_reference_dir, read_reference_sections

NAME = "stdlib"
DESCRIPTION = "Python standard library: docstrings (modules, classes, functions, methods) + Library Reference"
_SKIP_DIRS = {"__pycache__", "site-packages", "dist-packages", *collect.STDLIB_SKIP}


def code_fingerprint() -> str:
    """Hash of the collector's code: a change to how documents are collected rebuilds the index."""
    return xxhash.xxh3_64(Path(collect.__file__).read_bytes()).hexdigest()


def fingerprint(reference_dir: Path | None = None) -> str:
    """Cheap stand-in for the content hash: stdlib (and reference) file paths + mtimes + sizes (~20 ms)."""
    h = xxhash.xxh3_64(f"{sys.version}\0{code_fingerprint()}\0".encode())
    roots = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    if reference_dir is not None and reference_dir.is_dir():
        roots.add(str(reference_dir))
    for root in sorted(roots):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for fn in sorted(filenames):
                if fn.endswith((".py", ".so", ".html")):
                    st = os.stat(os.path.join(dirpath, fn))
                    h.update(f"{dirpath}/{fn}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return h.hexdigest()[:12]


def collect_documents(reference_dir: Path | None = None, timeout_s: float = 300.0) -> list[Document]:
    """Every documented public module, class, function and method of the standard library, each
    with its Library Reference text appended when ``reference_dir`` holds the reference."""
    reference, sections = read_reference_sections(reference_dir) if reference_dir is not None else ({}, {})
    docs = []
    for d in collect.run_collector("stdlib", [], timeout_s):
        text = docstring_to_markdown(d["text"])
        title, location = _without_builtins(d["title"]), _without_builtins(d["location"])
        ref = reference.pop(title, "")
        if ref:
            # The section a name is filed under ("Running Tasks Concurrently") says what it is for.
            heading = sections.get(title, "")
            label = f"Library reference ({heading})" if heading else "Library reference"
            text = f"{text}\n\n{label}:\n\n{ref}"
        docs.append(Document(title, location, text, d.get("keywords", "")))
    for name, ref in sorted(reference.items()):
        if _public(name):
            docs.append(Document(name, name, ref, sections.get(name, "")))
    return docs


def _without_builtins(name: str) -> str:
    """A built-in by the name the docs and its users give it: ``dict.setdefault``, ``sorted``
    (its docstring is collected as ``builtins.dict.setdefault``; under that name the Library
    Reference's ``dict.setdefault`` stood beside it as a second document of the same API).

    >>> _without_builtins("builtins.dict.setdefault"), _without_builtins("asyncio.gather")
    ('dict.setdefault', 'asyncio.gather')
    """
    return name.removeprefix("builtins.")


def _public(name: str) -> bool:
    top = name.split(".", 1)[0]
    return (
        "." in name and not any(p.startswith("_") for p in name.split(".")) and top not in collect.STDLIB_SKIP
    )


def open_stdlib_sync(data_dir: Path, reference_dir: Path | None = None) -> IndexedSource:
    """Load or build the stdlib index (blocking). ``reference_dir`` defaults to Debian's location."""
    ref = reference_dir if reference_dir is not None else default_reference_dir()
    index = open_index(NAME, data_dir, fingerprint(ref), lambda: collect_documents(ref))
    return IndexedSource(NAME, DESCRIPTION, index)


async def open_stdlib(data_dir: Path, reference_dir: Path | None = None) -> IndexedSource:
    """The stdlib source, its index loaded or built off the event loop.

    >>> # source = await open_stdlib(settings.data_dir)
    """
    return await asyncio.to_thread(open_stdlib_sync, data_dir, reference_dir)


def has_reference(reference_dir: Path | None = None) -> bool:
    """Whether the Library Reference is installed (``apt-get install python3.11-doc``)."""
    return any((reference_dir or default_reference_dir()).glob("*.html"))
