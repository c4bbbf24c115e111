"""The ``docs`` source: a folder of the user's own documents (.md .txt .rst .html .pdf).

Location = the file's path relative to the folder, plus ``#heading`` (or ``#page=N`` for PDF
pages) when the file has sections. Files and folders whose names start with ``.`` or ``_`` are
ignored. The version is the content hash of the extracted text; the cheap fingerprint (relative
paths + mtimes + sizes) lets an unchanged folder load without re-reading its files.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import xxhash

from core.errors import ConfigError
from core.sources.index import Document, open_index
from core.sources.indexed import IndexedSource
from core.sources.readers import READERS, read_file
from core.sources.text import slug

log = logging.getLogger(__name__)
NAME = "docs"
DESCRIPTION = "Your documents folder (Markdown, text, reStructuredText, HTML, PDF)"


def list_files(folder: Path) -> list[Path]:
    """Supported files under ``folder``, sorted, hidden and ``_``-prefixed names skipped."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for fn in sorted(filenames):
            if not fn.startswith((".", "_")) and Path(fn).suffix.lower() in READERS:
                out.append(Path(dirpath, fn))
    return out


def fingerprint(folder: Path) -> str:
    h = xxhash.xxh3_64(str(folder.resolve()).encode())
    for path in list_files(folder):
        st = path.stat()
        h.update(f"{path.relative_to(folder)}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
    return h.hexdigest()[:12]


def collect_documents(folder: Path) -> list[Document]:
    """One document per section of each readable file; unreadable files are logged and skipped."""
    docs: list[Document] = []
    for path in list_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            doc_title, sections = read_file(path)
        except Exception as exc:  # a corrupt PDF must not take the whole folder down
            log.warning("docs: skipping unreadable %s: %r", path, exc)
            continue
        base_title = doc_title or path.name
        for s in sections:
            anchor = s.heading if s.heading.startswith("page=") else slug(s.heading)
            location = f"{rel}#{anchor}" if anchor else rel
            title = f"{base_title} / {s.heading}" if s.heading else base_title
            docs.append(Document(title, location, s.body, keywords=f"{path.stem} {doc_title}"))
    return docs


def open_folder_sync(folder: Path, data_dir: Path, name: str = NAME) -> IndexedSource:
    """Load or build the index of ``folder`` (blocking)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"docs_dir: {folder} is not a folder")
    index = open_index(name, data_dir, fingerprint(folder), lambda: collect_documents(folder))
    return IndexedSource(name, f"{DESCRIPTION}: {folder}", index)


async def open_folder(folder: Path, data_dir: Path, name: str = NAME) -> IndexedSource:
    """The docs source over ``folder``, its index loaded or built off the event loop.

    >>> # source = await open_folder(settings.resolved_docs_dir, settings.data_dir)
    """
    return await asyncio.to_thread(open_folder_sync, folder, data_dir, name)
