"""The embedded run store: one SQLite file, shared safely by several local processes.

All SQLite work runs on one dedicated thread per store (a single-worker executor), so the event
loop never blocks and the connection is only ever touched by the thread that made it; calls
queue up in order. Across processes, WAL lets readers run beside the one writer, every write is
one ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so two writers never
deadlock upgrading a read lock) and ``busy_timeout`` makes a blocked writer wait instead of fail.
``synchronous=NORMAL`` in WAL survives a process crash; a power cut may lose the last commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, TypeVar

import orjson
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from core.errors import RunNotFound, StoreError
from core.models import RunStatus
from core.store.base import SqlDialect, casefold, check_page, encode_data, group_batch, run_filter
from core.store.events import RunEvent, RunSummary, as_utc
from core.store.lease import Lease, decide

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    question TEXT NOT NULL DEFAULT '',
    question_fold TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'running',
    settings_version INTEGER NOT NULL DEFAULT 0,
    created_us INTEGER NOT NULL,
    finished_us INTEGER,
    n_events INTEGER NOT NULL DEFAULT 0,
    sampled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_us, run_id);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created_us);
CREATE INDEX IF NOT EXISTS runs_version ON runs (settings_version, created_us);
CREATE TABLE IF NOT EXISTS run_leases (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    expires_at REAL NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    finished INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""
_RUN_COLUMNS = "run_id, question, status, settings_version, created_us, finished_us, n_events, sampled"


def to_us(value: datetime) -> int:
    """Exact microseconds since the epoch (a float timestamp would round)."""
    return (as_utc(value) - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


_DIALECT = SqlDialect(placeholder="?", find="instr", created="created_us", instant=to_us)


class SQLiteRunStore:
    """Run store in a SQLite file (created with its folder if missing).

    Example::

        async with SQLiteRunStore(data_dir / "runs.db") as store:
            await store.append([RunEvent(run_id="r1", seq=0, type="error", data={"message": "x"})])
            [e.type for e in await store.events("r1")]  # ['error']
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runstore-sqlite")
        self._conn: sqlite3.Connection | None = None  # only touched on the executor thread
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------
    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreError("the run store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return fn(self._connection())
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite run store {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Switching a fresh file to WAL needs an exclusive lock and SQLite answers "locked"
            # at once (no busy handler) when another process is doing the same: retry briefly.
            retry = Retrying(
                retry=retry_if_exception(_is_locked),
                stop=stop_after_delay(self.busy_timeout_s),
                wait=wait_random_exponential(multiplier=0.01, max=0.5),
                reraise=True,
            )
            self._conn = retry(self._connect)
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")  # persistent: once per file
            conn.execute("PRAGMA synchronous = NORMAL")
            with _transaction(conn):
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        await self._run(lambda conn: None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writes -----------------------------------------------------------------------------
    async def append(self, events: Sequence[RunEvent]) -> int:
        batches = group_batch(events)
        if not batches:
            return 0
        rows = {
            b.run_id: [(e.run_id, e.seq, e.type, to_us(e.at), encode_data(e)) for e in b.events]
            for b in batches
        }

        def _append(conn: sqlite3.Connection) -> int:
            new_total = 0
            with _transaction(conn):
                for b in batches:
                    conn.execute(
                        "INSERT INTO runs (run_id, created_us) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (b.run_id, to_us(b.first_at)),
                    )
                    cur = conn.executemany(
                        "INSERT OR IGNORE INTO run_events VALUES (?, ?, ?, ?, ?)", rows[b.run_id]
                    )
                    new = cur.rowcount
                    new_total += new
                    if new:
                        conn.execute(
                            "UPDATE runs SET n_events = n_events + ? WHERE run_id = ?", (new, b.run_id)
                        )
                    if b.started is not None:
                        conn.execute(
                            "UPDATE runs SET question = ?, question_fold = ?, settings_version = ?,"
                            " created_us = ?, sampled = ? WHERE run_id = ?",
                            (
                                b.question,
                                casefold(b.question),
                                b.settings_version,
                                to_us(b.started.at),
                                int(b.summary_only),
                                b.run_id,
                            ),
                        )
                    if b.terminal is not None:
                        conn.execute(
                            "UPDATE runs SET status = ?, finished_us = ? WHERE run_id = ?",
                            (b.status.value, to_us(b.terminal.at), b.run_id),
                        )
            return new_total

        return await self._run(_append)

    async def prune(self, *, max_age_s: float | None = None, max_runs: int | None = None) -> int:
        cutoff = to_us(datetime.now(UTC)) - int(max_age_s * 1e6) if max_age_s is not None else None

        def _prune(conn: sqlite3.Connection) -> int:
            with _transaction(conn):
                doomed: set[str] = set()
                if cutoff is not None:
                    doomed.update(
                        r[0] for r in conn.execute("SELECT run_id FROM runs WHERE created_us < ?", (cutoff,))
                    )
                if max_runs is not None:
                    doomed.update(
                        r[0]
                        for r in conn.execute(
                            "SELECT run_id FROM runs ORDER BY created_us DESC, run_id DESC LIMIT -1 OFFSET ?",
                            (max_runs,),
                        )
                    )
                ids = [(run_id,) for run_id in doomed]
                conn.executemany("DELETE FROM run_events WHERE run_id = ?", ids)
                conn.executemany("DELETE FROM runs WHERE run_id = ?", ids)
                conn.executemany("DELETE FROM run_leases WHERE run_id = ?", ids)
            return len(ids)

        if cutoff is None and max_runs is None:
            return 0
        return await self._run(_prune)

    # -- leases (core.store.lease) -----------------------------------------------------------
    async def acquire_lease(
        self, run_id: str, owner: str, ttl_s: float, *, fresh: bool, steal_from: str | None = None
    ) -> Lease:
        def _acquire(conn: sqlite3.Connection) -> Lease:
            now = time.time()
            with _transaction(conn):  # BEGIN IMMEDIATE: the write lock is ours until COMMIT
                row = conn.execute(
                    "SELECT owner, attempt, expires_at, finished FROM run_leases WHERE run_id = ?", (run_id,)
                ).fetchone()
                cur = _lease(run_id, row) if row else Lease(run_id, "", 0, 0.0, False)
                verdict = decide(cur, owner, now, fresh=fresh, steal_from=steal_from)
                if verdict == "refuse":
                    return cur
                attempt = cur.attempt + (verdict == "take")
                conn.execute(
                    "INSERT INTO run_leases (run_id, owner, expires_at, attempt, finished)"
                    " VALUES (?, ?, ?, ?, 0) ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner,"
                    " expires_at = excluded.expires_at, attempt = excluded.attempt",
                    (run_id, owner, now + ttl_s, attempt),
                )
                (next_seq,) = conn.execute(
                    "SELECT coalesce(max(seq) + 1, 0) FROM run_events WHERE run_id = ?", (run_id,)
                ).fetchone()
            return Lease(run_id, owner, attempt, now + ttl_s, False, held=True, next_seq=int(next_seq))

        return await self._run(_acquire)

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float) -> bool:
        def _renew(conn: sqlite3.Connection) -> bool:
            with _transaction(conn):
                cur = conn.execute(
                    "UPDATE run_leases SET expires_at = ? WHERE run_id = ? AND owner = ? AND finished = 0",
                    (time.time() + ttl_s, run_id, owner),
                )
            return cur.rowcount == 1

        return await self._run(_renew)

    async def release_lease(self, run_id: str, owner: str, *, finished: bool) -> None:
        def _release(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(
                    "UPDATE run_leases SET expires_at = 0, finished = ? WHERE run_id = ? AND owner = ?",
                    (int(finished), run_id, owner),
                )

        await self._run(_release)

    async def get_lease(self, run_id: str) -> Lease | None:
        def _get(conn: sqlite3.Connection) -> Lease | None:
            row = conn.execute(
                "SELECT owner, attempt, expires_at, finished FROM run_leases WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            (next_seq,) = conn.execute(
                "SELECT coalesce(max(seq) + 1, 0) FROM run_events WHERE run_id = ?", (run_id,)
            ).fetchone()
            return _lease(run_id, row, int(next_seq))

        return await self._run(_get)

    # -- reads ------------------------------------------------------------------------------
    async def events(self, run_id: str) -> list[RunEvent]:
        def _events(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT seq, type, at_us, data FROM run_events WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()

        rows = await self._run(_events)
        if not rows:
            raise RunNotFound(f"no events for run {run_id!r}")
        # Our own rows were validated on the way in: construct without re-validating.
        return [
            RunEvent.model_construct(
                run_id=run_id, seq=seq, type=type_, at=from_us(at), data=orjson.loads(data)
            )
            for seq, type_, at, data in rows
        ]

    async def list_runs(
        self,
        *,
        text: str | None = None,
        status: RunStatus | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        settings_version: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunSummary]:
        check_page(limit, offset)
        where, args = run_filter(
            _DIALECT, text=text, status=status, since=since, until=until, settings_version=settings_version
        )
        sql = f"SELECT {_RUN_COLUMNS} FROM runs{where} ORDER BY created_us DESC, run_id DESC LIMIT ? OFFSET ?"
        rows = await self._run(lambda conn: conn.execute(sql, (*args, limit, offset)).fetchall())
        return [_summary(r) for r in rows]

    async def get_summary(self, run_id: str) -> RunSummary:
        row = await self._run(
            lambda conn: conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        )
        if row is None:
            raise RunNotFound(f"no run {run_id!r}")
        return _summary(row)

    async def count(self) -> int:
        return int(await self._run(lambda conn: conn.execute("SELECT count(*) FROM runs").fetchone()[0]))


def _lease(run_id: str, row: tuple[Any, ...], next_seq: int = 0) -> Lease:
    owner, attempt, expires_at, finished = row
    return Lease(run_id, str(owner), int(attempt), float(expires_at), bool(finished), next_seq=next_seq)


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _summary(row: tuple[Any, ...]) -> RunSummary:
    run_id, question, status, version, created, finished, n_events, sampled = row
    return RunSummary(
        run_id=run_id,
        question=question,
        status=RunStatus(status),
        settings_version=version,
        created_at=from_us(created),
        finished_at=from_us(finished) if finished is not None else None,
        duration_s=(finished - created) / 1e6 if finished is not None else None,
        n_events=n_events,
        sampled=bool(sampled),
    )
