"""Shared, session-scoped indexes: the stdlib and packages corpora are built once per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.sources.indexed import IndexedSource
from core.sources.packages import open_packages_sync
from core.sources.stdlib import has_reference, open_stdlib_sync

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "docs"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sources-data")


@pytest.fixture(scope="session")
def stdlib_source(data_dir: Path) -> IndexedSource:
    return open_stdlib_sync(data_dir)


@pytest.fixture(scope="session")
def packages_source(data_dir: Path) -> IndexedSource:
    # A short package list keeps the suite fast; READMEs of every installed distribution are included.
    return open_packages_sync(data_dir, ["pydantic", "tenacity", "cachetools"])


@pytest.fixture
def library_reference() -> None:
    """Require the Python Library Reference (Debian python3.11-doc): fail in CI, skip elsewhere."""
    if has_reference():
        return
    message = "Python Library Reference not installed: apt-get install -y python3.11-doc"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
