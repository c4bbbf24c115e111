"""Admission control: a global limit on running workflows and a bounded wait queue.

Over capacity a run is refused at once with ``Overloaded`` instead of waiting without bound; this
is what keeps latency flat (and turns into HTTP 429) when load exceeds what the machine can do.
The limits are live: raising ``max_concurrent`` wakes waiters immediately.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.errors import Overloaded


class Admission:
    """Counts running and waiting workflows; FIFO wake-up.

    >>> adm = Admission(max_concurrent=2, queue_limit=0)
    >>> adm.active, adm.waiting
    (0, 0)
    """

    def __init__(self, max_concurrent: int, queue_limit: int) -> None:
        self.max_concurrent = max_concurrent
        self.queue_limit = queue_limit
        self.active = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def configure(self, max_concurrent: int, queue_limit: int) -> None:
        """Apply new limits; call from the loop that owns this object."""
        self.max_concurrent, self.queue_limit = max_concurrent, queue_limit
        self._wake()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one running slot for the block; raise ``Overloaded`` if the queue is full."""
        if self.active >= self.max_concurrent or self._waiters:
            if len(self._waiters) >= self.queue_limit:
                self.rejected += 1
                raise Overloaded(self.active, len(self._waiters), retry_after=1.0)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    # We were granted a slot while being cancelled: hand it on.
                    self.active -= 1
                    self._wake()
                raise
        else:
            self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.max_concurrent:
            fut = self._waiters.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)
