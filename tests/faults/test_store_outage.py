"""The run store unavailable (its SQLite file write-locked by another process): runs are answered,
events wait in the writer's bounded spool, and all of them land once the store is back."""

from __future__ import annotations

import asyncio
import sqlite3

from prometheus_client import generate_latest

from core.config import EngineSettings, Settings
from core.errors import RunNotFound
from core.factory import build_components, open_engine
from core.metrics import Metrics
from core.store import SQLiteRunStore
from core.store.factory import SQLITE_FILE
from tests.faults.metrics_text import counter
from tests.support.wait import await_until

QUESTIONS = [f"How do I run coroutines concurrently, store outage {i}?" for i in range(4)]


async def test_runs_are_answered_while_the_store_is_locked_and_events_land_afterwards(
    fault_settings: Settings,
) -> None:
    engine = await open_engine(
        lambda: build_components(fault_settings, metrics=Metrics()), EngineSettings(cache="off")
    )
    blocker = sqlite3.connect(fault_settings.data_dir / SQLITE_FILE, timeout=1, isolation_level=None)
    try:
        store, writer = engine.c.store, engine.c.events
        assert isinstance(store, SQLiteRunStore) and writer is not None
        await store.close()  # reopened with a short busy timeout: fail fast while locked (default 30 s)
        short = SQLiteRunStore(store.path, busy_timeout_s=1.0)
        engine.c.store = writer.store = short
        writer.on_degraded = engine.c.metrics.degraded
        await short.open()

        blocker.execute("BEGIN EXCLUSIVE")  # the outage: nobody else can write (or read) the file
        results = await asyncio.gather(*[engine.run(q, run_id=f"spool-{i}") for i, q in enumerate(QUESTIONS)])
        assert all(r.status == "ok" and r.findings for r in results)

        async def spooling() -> bool:
            return writer.degraded and len(writer.pending) > 0

        await await_until(spooling, 30, "events waiting in the spool")
        assert writer.errors > 0
        blocker.execute("ROLLBACK")  # the store is back

        async def all_landed() -> bool:
            for i in range(len(QUESTIONS)):
                try:
                    events = await short.events(f"spool-{i}")
                except RunNotFound:
                    return False
                if not any(e.type == "completed" for e in events):
                    return False
            return not writer.degraded and not writer.pending

        await await_until(all_landed, 60, "every spooled event in the store")
        text = generate_latest(engine.c.metrics.registry).decode()
        assert counter(text, "researchops_degraded_total", component="store") > 0
        assert writer.dropped == 0
    finally:
        blocker.close()
        await engine.aclose()
