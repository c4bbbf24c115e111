"""The ``packages`` source: documentation of installed third-party packages.

Two kinds of documents: every installed distribution's long description from its METADATA
(location ``pypi:<dist>`` + ``#section``), and the docstrings of the public modules, classes and
functions of a configurable list of import packages (location = dotted path). Importing those
packages (streamlit, numpy...) happens in a subprocess; this process never imports them.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path

import xxhash

from core.sources import collect
from core.sources.index import Document, open_index
from core.sources.indexed import IndexedSource
from core.sources.markup import clean_markdown, docstring_to_markdown, link_targets, rst_to_markdown
from core.sources.stdlib import code_fingerprint
from core.sources.text import slug, split_markdown, split_rst

NAME = "packages"
DESCRIPTION = "Installed third-party packages: READMEs (PyPI metadata) and API docstrings"
DEFAULT_PACKAGES: tuple[str, ...] = (
    "pydantic",
    "pydantic_ai",
    "langgraph",
    "redis",
    "fastapi",
    "streamlit",
    "httpx",
    "tenacity",
    "cachetools",
    "orjson",
    "numpy",
)


def fingerprint(packages: Sequence[str]) -> str:
    """Cheap stand-in for the content hash: every installed distribution's name and version, the
    package list, the interpreter version and the collector's code (about 50 ms)."""
    h = xxhash.xxh3_64(f"{sys.version}\0{code_fingerprint()}\0{','.join(packages)}\0".encode())
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    h.update("\0".join(dists).encode())
    return h.hexdigest()[:12]


def readme_documents(doc: collect.Doc) -> list[Document]:
    """One document per README section, located at ``pypi:<dist>#<section>``."""
    rst = doc.get("format") == "rst"
    split = split_rst if rst else split_markdown
    targets = link_targets(doc["text"]) if rst else {}
    out = []
    for section in split(doc["text"]):
        location = f"{doc['location']}#{slug(section.heading)}" if section.heading else doc["location"]
        title = f"{doc['title']} / {section.heading}" if section.heading else doc["title"]
        body = clean_markdown(rst_to_markdown(section.body, targets) if rst else section.body)
        if body:
            out.append(Document(title, location, body, doc.get("keywords", "")))
    return out


def collect_documents(packages: Sequence[str], timeout_s: float = 300.0) -> list[Document]:
    docs: list[Document] = []
    for d in collect.run_collector("packages", list(packages), timeout_s):
        if d["location"].startswith("pypi:"):
            docs.extend(readme_documents(d))
        else:
            text = docstring_to_markdown(d["text"])
            docs.append(Document(d["title"], d["location"], text, d.get("keywords", "")))
    return docs


def open_packages_sync(data_dir: Path, packages: Sequence[str] = DEFAULT_PACKAGES) -> IndexedSource:
    """Load or build the packages index (blocking)."""
    packages = tuple(packages)
    index = open_index(NAME, data_dir, fingerprint(packages), lambda: collect_documents(packages))
    return IndexedSource(NAME, DESCRIPTION, index)


async def open_packages(data_dir: Path, packages: Sequence[str] = DEFAULT_PACKAGES) -> IndexedSource:
    """The packages source, its index loaded or built off the event loop.

    >>> # source = await open_packages(settings.data_dir, ["httpx", "tenacity"])
    """
    return await asyncio.to_thread(open_packages_sync, data_dir, packages)
