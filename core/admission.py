"""Admission control: a global limit on running workflows, a bounded wait queue and a queue deadline.

Over capacity a run is refused at once with ``Overloaded`` instead of waiting without bound; this
is what keeps latency flat (and turns into HTTP 429) when load exceeds what the machine can do.
Three bounds, all live (raising ``max_concurrent`` wakes waiters immediately):

* ``max_concurrent`` runs at once;
* ``queue_limit`` runs waiting; ``None`` derives it from the concurrency (``QUEUE_FACTOR`` x
  ``max_concurrent``), so no preset queues thousands of runs it can never serve in time;
* ``queue_deadline_s``: a run that waited that long is refused (a queue that drains slower than
  it fills would otherwise hold every admitted run for ever longer).

``Overloaded.retry_after`` is computed from the measured drain rate (slots released per second,
an exponentially weighted average): the time the current queue needs to drain, 1-60 s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from core.errors import Overloaded

QUEUE_FACTOR = 4
"""Default queue length per concurrent slot."""
RETRY_MIN_S, RETRY_MAX_S = 1.0, 60.0
_RATE_HALF_LIFE_S = 5.0


def effective_queue_limit(max_concurrent: int, queue_limit: int | None) -> int:
    """``queue_limit`` if set, else ``QUEUE_FACTOR * max_concurrent``.

    >>> effective_queue_limit(64, None), effective_queue_limit(64, 10)
    (256, 10)
    """
    return QUEUE_FACTOR * max_concurrent if queue_limit is None else queue_limit


class DrainRate:
    """Completions per second, exponentially weighted (half-life ``_RATE_HALF_LIFE_S``).

    >>> rate = DrainRate(clock=iter([0.0, 1.0, 2.0]).__next__)
    >>> rate.per_s
    0.0
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t = clock()
        self._rate = 0.0

    def tick(self) -> None:
        now = self._clock()
        dt = max(now - self._t, 1e-3)
        self._t = now
        decay = math.exp(-dt * math.log(2) / _RATE_HALF_LIFE_S)
        # each completion is an impulse of 1/dt events per second, blended into the average
        self._rate = decay * self._rate + (1 - decay) * (1.0 / dt)

    @property
    def per_s(self) -> float:
        return self._rate


class Admission:
    """Counts running and waiting workflows; FIFO wake-up.

    >>> adm = Admission(max_concurrent=2, queue_limit=None)
    >>> adm.active, adm.waiting, adm.queue_limit
    (0, 0, 8)
    """

    def __init__(
        self, max_concurrent: int, queue_limit: int | None, *, queue_deadline_s: float | None = None
    ) -> None:
        self.active = 0
        self.rejected = 0
        self.expired = 0
        """Runs refused because they waited ``queue_deadline_s``."""
        self.drain = DrainRate()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.configure(max_concurrent, queue_limit, queue_deadline_s=queue_deadline_s)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def configure(
        self, max_concurrent: int, queue_limit: int | None, *, queue_deadline_s: float | None = None
    ) -> None:
        """Apply new limits; call from the loop that owns this object."""
        self.max_concurrent = max_concurrent
        self.queue_limit = effective_queue_limit(max_concurrent, queue_limit)
        self.queue_deadline_s = queue_deadline_s
        self._wake()

    def retry_after(self) -> float:
        """Seconds until the queue ahead would drain at the measured rate (1-60)."""
        rate = self.drain.per_s
        if rate <= 0:
            return RETRY_MIN_S
        return min(RETRY_MAX_S, max(RETRY_MIN_S, (len(self._waiters) + 1) / rate))

    def _refuse(self) -> Overloaded:
        self.rejected += 1
        return Overloaded(self.active, len(self._waiters), retry_after=self.retry_after())

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one running slot for the block; raise ``Overloaded`` if the queue is full or the
        wait passed ``queue_deadline_s``."""
        if self.active >= self.max_concurrent or self._waiters:
            if len(self._waiters) >= self.queue_limit:
                raise self._refuse()
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                if self.queue_deadline_s is None:
                    await fut
                else:
                    # shield: a timeout must not cancel a future that was granted meanwhile
                    await asyncio.wait_for(asyncio.shield(fut), self.queue_deadline_s)
            except TimeoutError:
                if fut.done() and not fut.cancelled():
                    pass  # granted in the same instant: take it
                else:
                    fut.cancel()
                    if fut in self._waiters:
                        self._waiters.remove(fut)
                    self.expired += 1
                    raise self._refuse() from None
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
            self.drain.tick()
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.max_concurrent:
            fut = self._waiters.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)
