"""Real documents for the workflow tests: the stdlib index (shared by the session) and its top hits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.sources.indexed import IndexedSource
from core.sources.stdlib import open_stdlib_sync

QUESTION = "How do I run coroutines concurrently and wait for all of them?"


@pytest.fixture(scope="session")
def stdlib(index_dir: Path) -> IndexedSource:
    return open_stdlib_sync(index_dir)


@pytest.fixture(scope="session")
def real_docs(stdlib: IndexedSource) -> list[dict[str, Any]]:
    """Documents exactly as ``search_sources`` hands them to validation."""
    docs = [{**h.to_dict(), "source": "stdlib"} for h in stdlib.index.search(QUESTION, 20)]
    assert len(docs) >= 5
    return docs
