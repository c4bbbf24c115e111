"""The background event writer over a real store (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import asyncio

from core.store import RunStore
from core.store.writer import EventWriter
from tests.store.runfactory import make_run


async def test_flushes_that_overlap_lose_nothing_queued_meanwhile(store: RunStore) -> None:
    """A reader catching up (the dashboard's History, the API) flushes while the background loop
    does: both used to append one chunk and each delete it, so events queued meanwhile were lost."""
    writer = EventWriter(store)
    writer.put(make_run("first"))
    flushes = [asyncio.create_task(writer.flush()) for _ in range(2)]
    await asyncio.sleep(0)  # both flushes are now waiting on the store
    writer.put(make_run("second", "A question queued while the store was writing"))
    await asyncio.gather(*flushes)
    await writer.flush()
    assert not writer.pending
    assert [len(await store.events(r)) for r in ("first", "second")] == [20, 20]
    assert writer.written == 40
