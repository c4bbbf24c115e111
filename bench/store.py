"""Run store benchmark (not a test): append throughput and list_runs latency at 10k runs.

    .venv/bin/python bench/store.py [--runs 10000] [--pg postgresql://postgres@127.0.0.1:5432/test]

Prints, per backend: events/s appending one run (20 events) per call, sequentially and from 16
concurrent tasks; then list_runs latency (median, p95 over 40 calls) once the store holds --runs runs.
PostgreSQL runs in a throwaway schema that is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models import RunStatus
from core.store import PostgresRunStore, RunStore, SQLiteRunStore
from tests.store.runfactory import make_run

WORDS = ["gather", "TaskGroup", "pathlib", "functools", "dataclass", "asyncio", "typing", "sqlite3"]


async def timed(fn: Callable[[], Awaitable[Any]], n: int) -> tuple[float, float]:
    """Median and p95 milliseconds of ``n`` calls."""
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


async def bench(name: str, store: RunStore, n_runs: int) -> None:
    t0 = datetime.now(UTC) - timedelta(days=1)
    status_cycle = [RunStatus.OK, RunStatus.OK, RunStatus.PARTIAL, RunStatus.ERROR]
    runs = [
        make_run(
            f"b{i:06d}",
            f"How does {WORDS[i % len(WORDS)]} work, case {i}?",
            status=status_cycle[i % 4],
            version=1 + i // 2500,
            start=t0 + timedelta(seconds=i),
        )
        for i in range(n_runs)
    ]
    n_seq = min(500, n_runs // 4)
    t = time.perf_counter()
    for events in runs[:n_seq]:
        await store.append(events)
    seq_rate = n_seq * 20 / (time.perf_counter() - t)

    queue = iter(runs[n_seq : 2 * n_seq])

    async def worker() -> None:
        for events in queue:
            await store.append(events)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    conc_rate = n_seq * 20 / (time.perf_counter() - t)

    # Fill the rest in multi-run batches (not measured).
    rest = runs[2 * n_seq :]
    for k in range(0, len(rest), 25):
        await store.append([e for events in rest[k : k + 25] for e in events])
    assert await store.count() == n_runs

    print(
        f"[{name}] append, 1 run (20 events) per call: sequential {seq_rate:,.0f} events/s; "
        f"16 tasks {conc_rate:,.0f} events/s"
    )
    cases: dict[str, Callable[[], Awaitable[Any]]] = {
        "newest 50": lambda: store.list_runs(limit=50),
        "text='taskgroup'": lambda: store.list_runs(text="taskgroup"),
        "status=error": lambda: store.list_runs(status="error"),
        "settings_version=3": lambda: store.list_runs(settings_version=3),
        "time range 1h": lambda: store.list_runs(
            since=t0 + timedelta(hours=1), until=t0 + timedelta(hours=2)
        ),
        "offset 5000": lambda: store.list_runs(offset=5000),
        "get_summary": lambda: store.get_summary("b000123"),
        "events(run)": lambda: store.events("b000123"),
    }
    for label, fn in cases.items():
        med, p95 = await timed(fn, 40)
        print(f"[{name}] {label:<20} median {med:6.2f} ms  p95 {p95:6.2f} ms  ({n_runs:,} runs)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with SQLiteRunStore(Path(tmp) / "bench.sqlite3") as sqlite_store:
            await bench("sqlite", sqlite_store, args.runs)
    schema = f"store_bench_{uuid.uuid4().hex[:8]}"
    try:
        async with PostgresRunStore(args.pg, schema=schema) as pg_store:
            await bench("postgres", pg_store, args.runs)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
