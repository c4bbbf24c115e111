"""Engines with checkpoints over SQLite (tmp data dir) and PostgreSQL (own schema, dropped after)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from core.config import EngineSettings, Settings
from tests.store.conftest import pg_url  # noqa: F401  (fixture: fails under CI=true when missing)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def durable_env(backend: str, tmp_path: Path, index_dir: Path, request: pytest.FixtureRequest) -> Any:
    """(Settings, schema) for the backend; a PostgreSQL schema is dropped afterwards."""
    if backend == "sqlite":
        yield Settings(data_dir=tmp_path / "data", index_dir=index_dir, metrics_port=None), "public"
        return
    url = request.getfixturevalue("pg_url")
    schema = f"durable_test_{uuid.uuid4().hex[:12]}"
    yield (
        Settings(data_dir=tmp_path / "data", index_dir=index_dir, metrics_port=None, database_url=url),
        schema,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
async def open_engine(durable_env: Any) -> AsyncIterator[Any]:
    """``await open_engine(engine_settings)``: an engine on this loop, closed after the test."""
    from core.factory import build_components, open_engine
    from core.metrics import Metrics

    settings, schema = durable_env
    engines: list[Any] = []

    async def make(es: EngineSettings | None = None) -> Any:
        build: Callable[[], Any] = lambda: build_components(settings, metrics=Metrics(), schema=schema)  # noqa: E731
        engine = await open_engine(build, es or EngineSettings())
        engines.append(engine)
        return engine

    try:
        yield make
    finally:
        for engine in engines:
            await engine.aclose()


@pytest.fixture
async def dengine(open_engine: Any) -> Any:
    return await open_engine()
