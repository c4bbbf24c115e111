"""L2 in an embedded SQLite file: the default shared cache, needing nothing installed.

Several local processes share the file (WAL journal, busy timeout). All SQLite work runs on one
private worker thread that owns the connection, never on the event loop. Writes are
group-committed (``core.group_commit``): the sets that arrive while a commit is under way go in
the next one, together (one transaction and one thread hop per batch instead of per set; a set
still returns only once committed). Expired rows are ignored on read and swept now and then on write.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from core.errors import CacheBackendError
from core.group_commit import GroupCommit, Outcome

T = TypeVar("T")
_SWEEP_EVERY = 256  # sets between sweeps of expired rows
_GET = "SELECT value FROM cache_entries WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache_entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at REAL              -- unix time; NULL = never
);
CREATE INDEX IF NOT EXISTS cache_entries_expiry ON cache_entries(expires_at);
CREATE TABLE IF NOT EXISTS cache_tags (
    tag TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (tag, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cache_tags_key ON cache_tags(key);
"""


def _prefix_upper(prefix: str) -> str:
    """Smallest string greater than every string starting with ``prefix`` (a range scan's end)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SQLiteL2:
    """SQLite-file L2 shared by the processes of one machine.

    >>> l2 = SQLiteL2(".data/cache.sqlite3")  # opens on first use
    """

    name = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-l2")
        self._conn: sqlite3.Connection | None = None
        self._writes = GroupCommit(self._executor, self._write_batch)
        self._sets = 0
        self._closed = threading.Event()

    # --- runs on the worker thread -------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            self._conn = conn
        return self._conn

    def _get(self, key: str) -> bytes | None:
        row = self._db().execute(_GET, (key, time.time())).fetchone()
        return None if row is None else bytes(row[0])

    def _write(
        self, db: sqlite3.Connection, key: str, value: bytes, expires: float | None, tags: Sequence[str]
    ) -> None:
        db.execute(
            "INSERT INTO cache_entries(key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (key, value, expires),
        )
        db.execute("DELETE FROM cache_tags WHERE key = ?", (key,))
        db.executemany("INSERT OR IGNORE INTO cache_tags(tag, key) VALUES (?, ?)", [(t, key) for t in tags])

    def _set_many(self, items: Sequence[tuple[str, bytes, float | None, Sequence[str]]]) -> None:
        """One transaction for all ``items``: each value lands with its tags, or none does."""
        db = self._db()
        now = time.time()
        with db:
            db.execute("BEGIN IMMEDIATE")
            for key, value, ttl_s, tags in items:
                self._write(db, key, value, None if ttl_s is None else now + ttl_s, tags)
        before, self._sets = self._sets, self._sets + len(items)
        if before // _SWEEP_EVERY != self._sets // _SWEEP_EVERY:
            self._sweep(now)

    def _write_batch(self, items: list[tuple[str, bytes, float | None, Sequence[str]]]) -> list[Outcome]:
        """Commit a batch of sets as one transaction; if that fails, each alone (one bad row fails alone)."""
        try:
            self._set_many(items)
            return [(True, None)] * len(items)
        except (sqlite3.Error, OSError):
            return [self._set_alone(item) for item in items]

    def _set_alone(self, item: tuple[str, bytes, float | None, Sequence[str]]) -> Outcome:
        try:
            self._set_many([item])
            return (True, None)
        except (sqlite3.Error, OSError) as e:
            return (False, _backend_error("set", e))

    def _sweep(self, now: float) -> None:
        db = self._db()
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "DELETE FROM cache_tags WHERE key IN "
                "(SELECT key FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?)",
                (now,),
            )
            db.execute("DELETE FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))

    def _delete_where(self, where: str, args: tuple[object, ...]) -> int:
        """Delete entries (and their tag rows) selected by ``where``; count only live ones."""
        db = self._db()
        now = time.time()
        with db:
            db.execute("BEGIN IMMEDIATE")
            rows = db.execute(f"SELECT key, expires_at FROM cache_entries WHERE {where}", args).fetchall()
            keys = [(k,) for k, _ in rows]
            db.executemany("DELETE FROM cache_tags WHERE key = ?", keys)
            db.executemany("DELETE FROM cache_entries WHERE key = ?", keys)
        return sum(1 for _, exp in rows if exp is None or exp > now)

    def _delete(self, keys: Sequence[str]) -> int:
        marks = ",".join("?" * len(keys))
        return self._delete_where(f"key IN ({marks})", tuple(keys))

    def _purge_tag(self, tag: str) -> int:
        n = self._delete_where("key IN (SELECT key FROM cache_tags WHERE tag = ?)", (tag,))
        with self._db() as db:
            db.execute("DELETE FROM cache_tags WHERE tag = ?", (tag,))
        return n

    def _purge_prefix(self, prefix: str) -> int:
        if not prefix:
            return self._delete_where("1 = 1", ())
        return self._delete_where("key >= ? AND key < ?", (prefix, _prefix_upper(prefix)))

    def _size(self) -> int:
        row = (
            self._db()
            .execute(
                "SELECT count(*) FROM cache_entries WHERE expires_at IS NULL OR expires_at > ?",
                (time.time(),),
            )
            .fetchone()
        )
        return int(row[0])

    def _namespace_counts(self) -> dict[str, tuple[int, int]]:
        rows = (
            self._db()
            .execute(
                "SELECT substr(key, 1, instr(key, ':') - 1) AS ns, count(*), coalesce(sum(length(value)), 0)"
                " FROM cache_entries WHERE expires_at IS NULL OR expires_at > ? GROUP BY ns",
                (time.time(),),
            )
            .fetchall()
        )
        return {str(ns): (int(n), int(b)) for ns, n, b in rows}

    def _close(self) -> None:
        self._writes.drain()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- async API -----------------------------------------------------------------------------
    async def _run(self, what: str, fn: Callable[[], T]) -> T:
        if self._closed.is_set():
            raise CacheBackendError(f"sqlite L2 {what} failed: backend is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except (sqlite3.Error, OSError) as e:
            raise _backend_error(what, e) from e

    async def get(self, key: str) -> bytes | None:
        return await self._run("get", lambda: self._get(key))

    async def set(self, key: str, value: bytes, ttl_s: float | None, tags: Sequence[str] = ()) -> None:
        """Store ``value``; returns once it is committed (with the other sets of its batch)."""
        if self._closed.is_set():
            raise CacheBackendError("sqlite L2 set failed: backend is closed")
        try:
            await self._writes.submit((key, value, ttl_s, tuple(tags)))
        except RuntimeError as e:  # shut down between the check and the submit
            raise CacheBackendError("sqlite L2 set failed: backend is closed") from e

    async def delete(self, keys: Sequence[str]) -> int:
        return await self._run("delete", lambda: self._delete(list(keys))) if keys else 0

    async def purge_tag(self, tag: str) -> int:
        return await self._run("purge_tag", lambda: self._purge_tag(tag))

    async def purge_prefix(self, prefix: str) -> int:
        return await self._run("purge_prefix", lambda: self._purge_prefix(prefix))

    async def clear(self) -> None:
        await self._run("clear", lambda: self._purge_prefix(""))

    async def size(self) -> int:
        return await self._run("size", self._size)

    async def namespace_counts(self) -> dict[str, tuple[int, int]]:
        """Live entries and bytes per namespace (the key's part before ``:``)."""
        return await self._run("namespace_counts", self._namespace_counts)

    async def close(self) -> None:
        if self._closed.is_set():
            return
        await self._run("close", self._close)
        self._closed.set()
        self._executor.shutdown(wait=False)


def _backend_error(what: str, e: BaseException) -> CacheBackendError:
    return CacheBackendError(f"sqlite L2 {what} failed: {type(e).__name__}: {e}")
