"""Background, batched appends of run events: runs never wait on the store.

Events are queued without blocking and flushed in batches (every ``interval_s`` or ``batch``
events). A store failure is counted and the batch kept for the next flush (bounded), so a short
outage loses nothing and a long one cannot grow memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from core.store.base import RunStore
from core.store.events import RunEvent
from core.store.policy import EventPolicy


class EventWriter:
    """Queue events with ``put``; a task on the running loop appends them to ``store``.

    >>> EventWriter  # doctest: +ELLIPSIS
    <class '...EventWriter'>
    """

    def __init__(
        self,
        store: RunStore,
        policy: EventPolicy | None = None,
        *,
        interval_s: float = 0.05,
        batch: int = 500,
        max_pending: int = 200_000,
    ) -> None:
        self.store, self.policy = store, policy or EventPolicy()
        self.interval_s, self.batch, self.max_pending = interval_s, batch, max_pending
        self.pending: list[RunEvent] = []
        self.errors = 0
        self.dropped = 0
        self.written = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="researchops-event-writer")

    def put(self, events: Iterable[RunEvent]) -> None:
        self.pending.extend(self.policy.filter(events))
        if len(self.pending) > self.max_pending:
            over = len(self.pending) - self.max_pending
            del self.pending[:over]
            self.dropped += over
        if len(self.pending) >= self.batch:
            self._wake.set()

    async def flush(self) -> None:
        while self.pending:
            chunk = self.pending[: self.batch]
            try:
                await self.store.append(chunk)
            except Exception:
                self.errors += 1
                return
            del self.pending[: len(chunk)]
            self.written += len(chunk)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            await self.flush()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
