"""Retention: prune run history and the checkpoint threads of runs no longer in the store."""

from __future__ import annotations

from typing import Any

from core.durable.checkpoint import thread_ids
from core.store import RunStore


async def prune(
    store: RunStore,
    saver: Any | None,
    *,
    max_age_s: float | None = None,
    max_runs: int | None = None,
) -> dict[str, int]:
    """Prune run history, then delete the checkpoint threads of runs no longer in the store.

    >>> # await prune(store, engine.c.checkpointer, max_runs=1000) -> {"runs": 12, "checkpoint_threads": 12}
    """
    runs = await store.prune(max_age_s=max_age_s, max_runs=max_runs)
    threads = 0
    if saver is not None:
        kept: set[str] = set()
        while True:
            page = await store.list_runs(limit=10_000, offset=len(kept))
            kept.update(r.run_id for r in page)
            if len(page) < 10_000:
                break
        for thread_id in await thread_ids(saver) - kept:
            await saver.adelete_thread(thread_id)
            threads += 1
    return {"runs": runs, "checkpoint_threads": threads}
