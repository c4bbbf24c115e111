"""The run store on PostgreSQL (``DATABASE_URL``): pooled psycopg 3 async connections.

Tables live in one schema (default ``public``; tests use a throwaway one) and are created on
open. Event data is JSONB. Correctness under concurrent writers comes from the row lock on the
run's summary row: ``n_events = n_events + new`` re-reads the latest row version under READ
COMMITTED, and batches lock runs in run-id order, so writers never deadlock each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import orjson
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.errors import RunNotFound, StoreError
from core.models import RunStatus
from core.store.base import SqlDialect, casefold, check_page, encode_data, group_batch, run_filter
from core.store.events import RunEvent, RunSummary, as_utc
from core.store.lease import Lease, decide

_RUN_COLUMNS = "run_id, question, status, settings_version, created_at, finished_at, n_events, sampled"
_DIALECT = SqlDialect(placeholder="%s", find="strpos", created="created_at", instant=lambda at: at)


class PostgresRunStore:
    """Run store in PostgreSQL.

    Example::

        async with PostgresRunStore("postgresql://postgres@127.0.0.1:5432/test", schema="ro") as store:
            await store.append(events)
            await store.list_runs(text="gather", limit=20)
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.schema = schema
        self.timeout_s = timeout_s
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=timeout_s,
            kwargs={"autocommit": True},
            name=f"runstore-{schema}",
        )
        self._events = sql.Identifier(schema, "run_events")
        self._runs = sql.Identifier(schema, "runs")
        self._leases = sql.Identifier(schema, "run_leases")
        self._lock = asyncio.Lock()
        self._opened = False
        self._closed = False

    # -- plumbing ---------------------------------------------------------------------------
    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(
            events=self._events, runs=self._runs, leases=self._leases, schema=sql.Identifier(self.schema)
        )

    async def open(self) -> None:
        if self._closed:
            raise StoreError("the run store is closed")
        if self._opened:
            return
        async with self._lock:
            if self._opened:
                return
            try:
                await self._pool.open(wait=True, timeout=self.timeout_s)
                await self._create_schema()
            except (psycopg.Error, PoolTimeout) as exc:
                raise StoreError(f"postgres run store: cannot open: {exc}") from exc
            self._opened = True

    async def _create_schema(self) -> None:
        statements = [
            "CREATE SCHEMA IF NOT EXISTS {schema}",
            """CREATE TABLE IF NOT EXISTS {events} (
                run_id text NOT NULL,
                seq integer NOT NULL,
                type text NOT NULL,
                at timestamptz NOT NULL,
                data jsonb NOT NULL,
                PRIMARY KEY (run_id, seq))""",
            """CREATE TABLE IF NOT EXISTS {runs} (
                run_id text PRIMARY KEY,
                question text NOT NULL DEFAULT '',
                question_fold text NOT NULL DEFAULT '',
                status text NOT NULL DEFAULT 'running',
                settings_version integer NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL,
                finished_at timestamptz,
                n_events integer NOT NULL DEFAULT 0,
                sampled boolean NOT NULL DEFAULT false)""",
            "CREATE INDEX IF NOT EXISTS runs_created_idx ON {runs} (created_at, run_id)",
            "CREATE INDEX IF NOT EXISTS runs_status_idx ON {runs} (status, created_at)",
            "CREATE INDEX IF NOT EXISTS runs_version_idx ON {runs} (settings_version, created_at)",
            """CREATE TABLE IF NOT EXISTS {leases} (
                run_id text PRIMARY KEY,
                owner text NOT NULL DEFAULT '',
                expires_at double precision NOT NULL DEFAULT 0,
                attempt integer NOT NULL DEFAULT 0,
                finished boolean NOT NULL DEFAULT false)""",
        ]
        async with self._pool.connection() as conn, conn.transaction():
            # CREATE ... IF NOT EXISTS races between processes opening at once; serialize them.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"runstore:{self.schema}",))
            for statement in statements:
                await conn.execute(self._q(statement))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._pool.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _fetch(self, query: sql.Composed, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        await self.open()
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(query, args)
                return await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"postgres run store: {exc}") from exc

    # -- writes -----------------------------------------------------------------------------
    async def append(self, events: Sequence[RunEvent]) -> int:
        batches = group_batch(events)
        if not batches:
            return 0
        upsert_run = self._q("INSERT INTO {runs} (run_id, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING")
        insert_events = self._q(
            """WITH ins AS (
                   INSERT INTO {events} (run_id, seq, type, at, data)
                   SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::timestamptz[], %s::jsonb[])
                   ON CONFLICT DO NOTHING RETURNING 1),
               upd AS (UPDATE {runs} SET n_events = n_events + (SELECT count(*) FROM ins) WHERE run_id = %s)
               SELECT count(*) FROM ins"""
        )
        started = self._q(
            "UPDATE {runs} SET question = %s, question_fold = %s, settings_version = %s, created_at = %s,"
            " sampled = %s WHERE run_id = %s"
        )
        finished = self._q("UPDATE {runs} SET status = %s, finished_at = %s WHERE run_id = %s")
        await self.open()
        try:
            async with self._pool.connection() as conn, conn.transaction():
                # Pipeline: every statement of the batch goes out in one round trip.
                counters = []
                async with conn.pipeline():
                    for b in batches:
                        await conn.execute(upsert_run, (b.run_id, b.first_at))
                        columns = (
                            [e.run_id for e in b.events],
                            [e.seq for e in b.events],
                            [e.type for e in b.events],
                            [e.at for e in b.events],
                            [encode_data(e) for e in b.events],
                        )
                        counters.append(await conn.execute(insert_events, (*columns, b.run_id)))
                        if (s := b.started) is not None:
                            args = (
                                b.question,
                                casefold(b.question),
                                b.settings_version,
                                s.at,
                                b.summary_only,
                            )
                            await conn.execute(started, (*args, b.run_id))
                        if (t := b.terminal) is not None:
                            await conn.execute(finished, (b.status.value, t.at, b.run_id))
                new = 0
                for cur in counters:
                    row = await cur.fetchone()
                    new += int(row[0]) if row else 0
                return new
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"postgres run store: append failed: {exc}") from exc

    async def prune(self, *, max_age_s: float | None = None, max_runs: int | None = None) -> int:
        parts: list[str] = []
        args: list[Any] = []
        if max_age_s is not None:
            parts.append("SELECT run_id FROM {runs} WHERE created_at < %s")
            args.append(datetime.now(UTC) - timedelta(seconds=max_age_s))
        if max_runs is not None:
            parts.append("(SELECT run_id FROM {runs} ORDER BY created_at DESC, run_id DESC OFFSET %s)")
            args.append(max_runs)
        if not parts:
            return 0
        query = self._q(
            "WITH doomed AS (" + " UNION ".join(parts) + "),"
            " ev AS (DELETE FROM {events} WHERE run_id IN (SELECT run_id FROM doomed)),"
            " le AS (DELETE FROM {leases} WHERE run_id IN (SELECT run_id FROM doomed))"
            " DELETE FROM {runs} WHERE run_id IN (SELECT run_id FROM doomed) RETURNING 1"
        )
        return len(await self._fetch(query, args))

    # -- leases (core.store.lease) -----------------------------------------------------------
    async def acquire_lease(
        self, run_id: str, owner: str, ttl_s: float, *, fresh: bool, steal_from: str | None = None
    ) -> Lease:
        await self.open()
        try:
            async with self._pool.connection() as conn, conn.transaction():
                # a row for every run asked about, then its row lock: one taker at a time
                await conn.execute(
                    self._q("INSERT INTO {leases} (run_id) VALUES (%s) ON CONFLICT DO NOTHING"), (run_id,)
                )
                cur = await conn.execute(
                    self._q(
                        "SELECT owner, expires_at, attempt, finished, extract(epoch FROM clock_timestamp())"
                        " FROM {leases} WHERE run_id = %s FOR UPDATE"
                    ),
                    (run_id,),
                )
                row = await cur.fetchone()
                assert row is not None  # inserted above
                now = float(row[4])  # the server's clock: every taker compares against one clock
                lease = Lease(run_id, row[0], int(row[2]), float(row[1]), bool(row[3]))
                verdict = decide(lease, owner, now, fresh=fresh, steal_from=steal_from)
                if verdict == "refuse":
                    return lease
                attempt = lease.attempt + (verdict == "take")
                await conn.execute(
                    self._q(
                        "UPDATE {leases} SET owner = %s, expires_at = %s, attempt = %s WHERE run_id = %s"
                    ),
                    (owner, now + ttl_s, attempt, run_id),
                )
                cur = await conn.execute(
                    self._q("SELECT coalesce(max(seq) + 1, 0) FROM {events} WHERE run_id = %s"), (run_id,)
                )
                seq_row = await cur.fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"postgres run store: lease failed: {exc}") from exc
        next_seq = int(seq_row[0]) if seq_row else 0
        return Lease(run_id, owner, attempt, now + ttl_s, False, held=True, next_seq=next_seq)

    async def renew_lease(self, run_id: str, owner: str, ttl_s: float) -> bool:
        rows = await self._fetch(
            self._q(
                "UPDATE {leases} SET expires_at = extract(epoch FROM clock_timestamp()) + %s"
                " WHERE run_id = %s AND owner = %s AND NOT finished RETURNING 1"
            ),
            (ttl_s, run_id, owner),
        )
        return len(rows) == 1

    async def release_lease(self, run_id: str, owner: str, *, finished: bool) -> None:
        await self._fetch(
            self._q(
                "UPDATE {leases} SET expires_at = 0, finished = %s"
                " WHERE run_id = %s AND owner = %s RETURNING 1"
            ),
            (finished, run_id, owner),
        )

    async def get_lease(self, run_id: str) -> Lease | None:
        rows = await self._fetch(
            self._q(
                "SELECT l.owner, l.expires_at, l.attempt, l.finished,"
                " (SELECT coalesce(max(seq) + 1, 0) FROM {events} e WHERE e.run_id = l.run_id)"
                " FROM {leases} l WHERE l.run_id = %s"
            ),
            (run_id,),
        )
        if not rows:
            return None
        owner, expires, attempt, finished, next_seq = rows[0]
        return Lease(run_id, owner, int(attempt), float(expires), bool(finished), next_seq=int(next_seq))

    # -- reads ------------------------------------------------------------------------------
    async def events(self, run_id: str) -> list[RunEvent]:
        rows = await self._fetch(
            self._q("SELECT seq, type, at, data::text FROM {events} WHERE run_id = %s ORDER BY seq"),
            (run_id,),
        )
        if not rows:
            raise RunNotFound(f"no events for run {run_id!r}")
        # Our own rows were validated on the way in: construct without re-validating.
        return [
            RunEvent.model_construct(
                run_id=run_id, seq=seq, type=type_, at=as_utc(at), data=orjson.loads(data)
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
        page = " ORDER BY created_at DESC, run_id DESC LIMIT %s OFFSET %s"
        rows = await self._fetch(
            self._q(f"SELECT {_RUN_COLUMNS} FROM {{runs}}{where}{page}"), (*args, limit, offset)
        )
        return [_summary(r) for r in rows]

    async def get_summary(self, run_id: str) -> RunSummary:
        rows = await self._fetch(self._q(f"SELECT {_RUN_COLUMNS} FROM {{runs}} WHERE run_id = %s"), (run_id,))
        if not rows:
            raise RunNotFound(f"no run {run_id!r}")
        return _summary(rows[0])

    async def count(self) -> int:
        rows = await self._fetch(self._q("SELECT count(*) FROM {runs}"))
        return int(rows[0][0])


def _summary(row: tuple[Any, ...]) -> RunSummary:
    run_id, question, status, version, created, finished, n_events, sampled = row
    created, finished = as_utc(created), as_utc(finished) if finished is not None else None
    return RunSummary(
        run_id=run_id,
        question=question,
        status=RunStatus(status),
        settings_version=version,
        created_at=created,
        finished_at=finished,
        duration_s=(finished - created).total_seconds() if finished is not None else None,
        n_events=n_events,
        sampled=sampled,
    )
