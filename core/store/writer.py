"""Background, batched appends of run events: runs never wait on the store.

Events are queued without blocking and flushed in batches (every ``interval_s`` or ``batch``
events). While the store is down (PostgreSQL stopped, the SQLite file locked) the queue is a
bounded local spool: each failed flush is counted (``errors``, ``on_degraded("store")``), the
events stay queued, and flushes back off with jitter (``ExponentialWithJitterBackoff``, capped at
``max_backoff_s``) until the store answers again, when the spool drains in order. Each append is
bounded by ``append_timeout_s``; beyond ``max_pending`` events the oldest are dropped (counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from redis.backoff import ExponentialWithJitterBackoff

from core.store.base import RunStore
from core.store.events import RunEvent
from core.store.policy import EventPolicy

log = logging.getLogger(__name__)


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
        append_timeout_s: float = 5.0,
        max_backoff_s: float = 5.0,
        on_degraded: Callable[[str], None] | None = None,
    ) -> None:
        self.store, self.policy = store, policy or EventPolicy()
        self.interval_s, self.batch, self.max_pending = interval_s, batch, max_pending
        self.append_timeout_s = append_timeout_s
        self.on_degraded = on_degraded
        self.pending: list[RunEvent] = []
        self.errors = 0
        self.dropped = 0
        self.written = 0
        self.failures = 0
        """Consecutive failed flushes (0 while the store answers)."""
        self.last_error: str | None = None
        self._backoff = ExponentialWithJitterBackoff(cap=max_backoff_s, base=interval_s)
        self._retry_at = 0.0
        self._wake = asyncio.Event()
        # One flush at a time: two would append the same chunk, and the second ``del`` would drop
        # events queued meanwhile that were never written.
        self._flushing = asyncio.Lock()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def degraded(self) -> bool:
        """True while the store refuses appends and events wait in the spool."""
        return self.failures > 0

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

    async def flush(self, *, force: bool = True) -> None:
        """Append what is queued; stops at the first failure (the rest stays queued).

        ``force=False`` (the background loop; readers catching up before they read the store, so
        a run that just finished here shows) respects the back-off after a failure."""
        if not force and time.monotonic() < self._retry_at:
            return
        async with self._flushing:
            await self._append_pending()

    async def _append_pending(self) -> None:
        while self.pending:
            chunk = self.pending[: self.batch]
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (gh-86296)
                async with asyncio.timeout(self.append_timeout_s):
                    await self.store.append(chunk)
            except Exception as exc:  # any store failure: keep the events, try again later
                self._failed(exc)
                return
            del self.pending[: len(chunk)]
            self.written += len(chunk)
            if self.failures:
                log.info("run store is back: spool draining (%d events left)", len(self.pending))
            self.failures, self.last_error = 0, None

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self._backoff.compute(self.failures)
        if self.failures == 1:
            log.warning("run store unavailable (%s): spooling events", self.last_error)
        if self.on_degraded is not None:
            with contextlib.suppress(Exception):
                self.on_degraded("store")

    async def _loop(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await self.flush(force=False)

    async def close(self) -> None:
        # Ask the loop to stop rather than cancelling it mid-append: on 3.11 a cancel that races a
        # finishing wait can be swallowed, and close() then waited forever (seen under load).
        if self._task is not None:
            self._closing = True
            self._wake.set()
            try:
                async with asyncio.timeout(max(5.0, self.append_timeout_s * 2)):
                    await self._task
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.flush()
