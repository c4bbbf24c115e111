"""Shared fixtures: one search index per test session, a fresh data dir per test, a private Redis."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.config import EngineSettings, Settings
from tests.support.redis_server import RedisServer, private_redis

REPO = Path(__file__).resolve().parent.parent
# The search indexes are rebuilt only when the corpus changes, so sharing them across tests (and
# test sessions) is exactly the production behaviour, and keeps the suite fast.
SHARED_INDEX = Path(os.environ.get("RESEARCHOPS_TEST_INDEX_DIR", REPO / ".data" / "test-index"))


@pytest.fixture(scope="session")
def index_dir() -> Path:
    SHARED_INDEX.mkdir(parents=True, exist_ok=True)
    return SHARED_INDEX


@pytest.fixture
def settings(tmp_path: Path, index_dir: Path) -> Settings:
    """Embedded defaults in a fresh data dir, sharing the session's search indexes."""
    return Settings(data_dir=tmp_path / "data", index_dir=index_dir, metrics_port=None)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server on a free port (fails under CI=true when it is missing), stopped by PID."""
    yield from private_redis(tmp_path / "redis")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[object]:
    """An engine on the test's loop with the optimized defaults and its own metrics registry."""
    from core.factory import build_components, open_engine
    from core.metrics import Metrics

    eng = await open_engine(lambda: build_components(settings, metrics=Metrics()), EngineSettings())
    try:
        yield eng
    finally:
        await eng.aclose()
