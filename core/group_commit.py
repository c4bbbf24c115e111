"""Group commit: writes that arrive while a batch is being written go in the next batch, together.

One thread hop and one transaction per batch instead of per write; each caller still returns only
once its own write is done, with its own result or error. Used by the SQLite stores that own a
single worker thread (``core.cache.sqlite``, ``core.durable.sqlite_saver``).

>>> import asyncio
>>> from concurrent.futures import ThreadPoolExecutor
>>> commits = GroupCommit(ThreadPoolExecutor(1), lambda batch: [(True, item * 2) for item in batch])
>>> asyncio.run(commits.submit(21))
42
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

Outcome = tuple[bool, Any]
"""``(True, result)`` or ``(False, exception)``: what one write of a batch came to."""


class GroupCommit:
    """Batches ``submit``-ted items for ``write`` (items -> one ``Outcome`` each), run on ``executor``."""

    def __init__(self, executor: Executor, write: Callable[[list[Any]], list[Outcome]]) -> None:
        self._executor, self._write = executor, write
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._lock = threading.Lock()
        self._scheduled = False

    async def submit(self, item: Any) -> Any:
        """Queue ``item`` for the next batch; returns its result or raises its error.

        Raises ``RuntimeError`` when the executor is shut down."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._pending.append((item, fut))
            start, self._scheduled = not self._scheduled, True
        if start:
            self._executor.submit(self.drain)
        return await fut

    def drain(self) -> None:
        """Write every item waiting now, as one batch, then wake their callers. Runs on the
        executor's thread (``submit`` schedules it; a store's close calls it to flush)."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        if not batch:
            return
        try:
            outcomes = self._write([item for item, _ in batch])
        except Exception as exc:  # a failure ``write`` did not sort per item: nobody waits forever
            outcomes = [(False, exc)] * len(batch)
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            try:
                fut.get_loop().call_soon_threadsafe(_settle, fut, outcome)
            except RuntimeError:  # the caller's loop is closed: nobody is waiting
                pass


def _settle(fut: asyncio.Future[Any], outcome: Outcome) -> None:
    if fut.done():  # the caller was cancelled: the write is stored anyway
        return
    ok, value = outcome
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)
