"""The ``store`` fixture: every test here runs over SQLite (tmp file) and PostgreSQL (own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from core.store import PostgresRunStore, RunStore, SQLiteRunStore

CANDIDATE_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)


def _find_pg_url() -> str | None:
    urls = [os.environ["TEST_DATABASE_URL"]] if os.environ.get("TEST_DATABASE_URL") else list(CANDIDATE_URLS)
    for url in urls:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return url
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A working PostgreSQL URL: missing server fails under CI=true, skips otherwise."""
    url = _find_pg_url()
    if url is None:
        tried = os.environ.get("TEST_DATABASE_URL") or ", ".join(CANDIDATE_URLS)
        message = f"PostgreSQL not reachable (tried {tried})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def pg_schema(pg_url: str) -> object:
    """A throwaway schema in the shared database, dropped afterwards."""
    schema = f"store_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunStore]:
    s: RunStore
    if backend == "sqlite":
        s = SQLiteRunStore(tmp_path / "runs.sqlite3")
    else:
        url = request.getfixturevalue("pg_url")
        s = PostgresRunStore(url, schema=request.getfixturevalue("pg_schema"), max_size=8)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
