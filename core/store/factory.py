"""Pick the run store backend from settings: PostgreSQL by URL, else the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError
from core.store.base import RunStore
from core.store.postgres import PostgresRunStore
from core.store.sqlite import SQLiteRunStore

SQLITE_FILE = "runs.sqlite3"


def database_location(database_url: str | None, data_dir: Path) -> str | Path:
    """Where ``DATABASE_URL`` points (parsed here only): a PostgreSQL URL (str) or the SQLite
    run-store file (Path; checkpoints live beside it).

    >>> database_location(None, Path("/tmp/ro-data"))
    PosixPath('/tmp/ro-data/runs.sqlite3')
    """
    if not database_url:
        return data_dir / SQLITE_FILE
    if database_url.startswith(("postgresql://", "postgres://")):
        return database_url
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///"))
    raise ConfigError(
        f"DATABASE_URL: unsupported scheme in {database_url.split('://')[0]!r}; "
        "use postgresql://... or sqlite:///path"
    )


def open_store(database_url: str | None, data_dir: Path, *, schema: str = "public") -> RunStore:
    """A run store for ``Settings.database_url`` / ``Settings.data_dir``; connects on first use
    (``await store.open()`` to fail fast at startup).

    >>> type(open_store(None, Path("/tmp/ro-data"))).__name__
    'SQLiteRunStore'
    """
    where = database_location(database_url, data_dir)
    if isinstance(where, str):
        return PostgresRunStore(where, schema=schema)
    return SQLiteRunStore(where)
