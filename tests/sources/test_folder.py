"""The docs source: every file type, persistence and rebuilds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.sources.folder import list_files, open_folder, open_folder_sync
from tests.sources.pdfgen import write_pdf

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "docs"
# Small real files: one of each type, copied from the bundled samples (real documents).
REAL_FILES = {
    "md": SAMPLES / "python-packages" / "httpx.md",
    "rst": SAMPLES / "python-packages" / "cachetools.rst",
    "txt": SAMPLES / "sqlite" / "sqlite3.txt",
    "html": SAMPLES / "libffi" / "Closure-Example.html",
}
# A phrase found only in each file, and the location prefix expected for it.
QUERIES = {
    "md": ("HTTP/2 support and a fully async client", "httpx.md"),
    "rst": ("memoizing collections and decorators", "cachetools.rst"),
    "txt": ("sqlite3 command line interface SQLite database", "sqlite3.txt"),
    "html": ("closure trampoline puts", "Closure-Example.html"),
    "pdf": ("VACUUM FULL reclaims storage dead tuples", "vacuum.pdf#page="),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "nested").mkdir(parents=True)
    for kind, src in REAL_FILES.items():
        shutil.copy(src, docs / ("nested" if kind == "html" else "") / src.name)
    shutil.copy(SAMPLES / "postgresql" / "VACUUM.pdf", docs / "vacuum.pdf")
    # A second PDF written here from real text, so the writer-reader round trip is exercised too.
    write_pdf((SAMPLES / "postgresql" / "EXPLAIN.txt").read_text(), docs / "explain.pdf", "EXPLAIN")
    (docs / "_notes.md").write_text("# ignored\nunderscore files are skipped\n")
    return docs


async def test_every_file_type_is_indexed_and_found(folder: Path, tmp_path: Path) -> None:
    source = await open_folder(folder, tmp_path / "data")
    files = {c.location.split("#", 1)[0] for c in source.index.chunks}
    assert files == {
        "httpx.md",
        "cachetools.rst",
        "sqlite3.txt",
        "nested/Closure-Example.html",
        "explain.pdf",
        "vacuum.pdf",
    }
    for kind, (query, expected) in QUERIES.items():
        hits = (await source.search(query, 3)).hits
        assert any(expected in h.location for h in hits), (kind, [h.location for h in hits])


async def test_sections_are_located_by_heading(folder: Path, tmp_path: Path) -> None:
    source = await open_folder(folder, tmp_path / "data")
    locations = {c.location for c in source.index.chunks}
    assert "sqlite3.txt#description" in locations  # manual-page heading
    assert any(loc.startswith("httpx.md#") for loc in locations)  # Markdown heading
    assert any(loc.startswith("vacuum.pdf#page=") for loc in locations)


async def test_index_is_loaded_not_rebuilt_when_content_is_unchanged(folder: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = open_folder_sync(folder, data)
    assert first.index.origin == "built"
    built_dir = data / "docs" / first.version
    stamp = built_dir.stat().st_mtime_ns

    second = open_folder_sync(folder, data)
    assert second.index.origin == "loaded" and second.version == first.version
    assert second.doc_count == first.doc_count

    # Touched but identical: the fingerprint changes, the content hash does not -> still no rebuild.
    os.utime(folder / "httpx.md", ns=(1, 1))
    third = open_folder_sync(folder, data)
    assert third.index.origin == "loaded" and third.version == first.version
    assert built_dir.stat().st_mtime_ns == stamp


async def test_index_is_rebuilt_with_a_new_version_when_a_document_changes(
    folder: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = open_folder_sync(folder, data)
    with (folder / "sqlite3.txt").open("a") as fh:
        fh.write("\nNOTES\n       The zebrafish pragma is undocumented.\n")
    second = open_folder_sync(folder, data)
    assert second.index.origin == "built" and second.version != first.version
    hits = (await second.search("zebrafish pragma", 1)).hits
    assert hits and hits[0].location == "sqlite3.txt#notes"
    assert not (data / "docs" / first.version).exists()  # superseded version removed


def test_unreadable_pdf_is_skipped_not_fatal(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    source = open_folder_sync(folder, tmp_path / "data")
    assert not any(c.location.startswith("broken.pdf") for c in source.index.chunks)
    assert source.doc_count > 0


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="docs_dir"):
        open_folder_sync(tmp_path / "nope", tmp_path / "data")


def test_bundled_samples_cover_every_type_and_stay_small() -> None:
    files = list_files(SAMPLES)
    assert {p.suffix for p in files} >= {".md", ".rst", ".txt", ".html", ".pdf"}
    assert sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file()) < 2 * 1024 * 1024
