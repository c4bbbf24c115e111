"""Singleflight: concurrent calls for the same key share one execution (the first caller's).

The first caller of a key is the leader: it does the work. Callers arriving while it works are
followers: they await the leader's outcome, its value or its exception, instead of doing the work
again. The entry vanishes when the leader finishes, so a later call starts afresh (by then a cache
usually answers it). Cancelling a follower never cancels the leader (followers wait through
``asyncio.shield``); a leader that is cancelled, or abandons its key, releases its followers,
which try again: one of them leads.

    flight: SingleFlight[str, int] = SingleFlight()
    value, shared = await flight.do("key", compute)  # shared: True for a follower

``do`` runs the work itself. When the work starts in one call and ends in another (LangGraph asks
its cache for a node's writes, runs the node, then stores them), use ``join`` / ``settle`` /
``abandon``: ``join`` makes the caller the leader (None) or hands it the leader's future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LeaderGone(Exception):
    """Set on a flight whose leader was cancelled or gave up: its followers try again."""


class SingleFlight(Generic[K, V]):
    """A group of in-flight calls keyed by ``K``; one event loop only (no locks).

    >>> import asyncio
    >>> async def demo():
    ...     flight: SingleFlight[str, int] = SingleFlight()
    ...     async def work():
    ...         await asyncio.sleep(0.01)
    ...         return 42
    ...     return await asyncio.gather(*(flight.do("k", work) for _ in range(3)))
    >>> asyncio.run(demo())
    [(42, False), (42, True), (42, True)]
    """

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}
        self._followers: dict[K, int] = {}

    def __len__(self) -> int:
        """Keys in flight now."""
        return len(self._calls)

    def in_flight(self, key: K) -> bool:
        return key in self._calls

    def followers(self, key: K) -> int:
        """Callers waiting on ``key``'s leader now."""
        return self._followers.get(key, 0)

    @property
    def waiting(self) -> int:
        """Callers waiting on any leader now."""
        return sum(self._followers.values())

    async def do(self, key: K, work: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """``(value, shared)``: run ``work`` as the leader of ``key``, or share the leader's outcome
        (``shared`` True). A leader's exception is raised in every follower too."""
        while True:
            flight = self.join(key)
            if flight is None:
                try:
                    value = await work()
                except asyncio.CancelledError:
                    self.abandon(key)
                    raise
                except BaseException as exc:
                    self.settle(key, exc=exc)
                    raise
                self.settle(key, value)
                return value, False
            try:
                return await self.wait(key, flight), True
            except LeaderGone:
                continue  # the first follower to get here leads now

    def join(self, key: K) -> asyncio.Future[V] | None:
        """None: the caller now leads ``key`` and must ``settle`` or ``abandon`` it. Otherwise the
        leader's future, to pass to ``wait``."""
        flight = self._calls.get(key)
        if flight is None:
            self._calls[key] = asyncio.get_running_loop().create_future()
        return flight

    async def wait(self, key: K, flight: asyncio.Future[V]) -> V:
        """The leader's value; raises its exception, or ``LeaderGone`` (then try again)."""
        self._followers[key] = self._followers.get(key, 0) + 1
        try:
            return await asyncio.shield(flight)
        finally:
            left = self._followers.get(key, 1) - 1
            if left > 0:
                self._followers[key] = left
            else:
                self._followers.pop(key, None)

    def settle(self, key: K, value: V | None = None, *, exc: BaseException | None = None) -> None:
        """The leader's outcome: followers get ``value``, or ``exc`` raised."""
        flight = self._calls.pop(key, None)
        if flight is None or flight.done():
            return
        if exc is None:
            flight.set_result(value)  # type: ignore[arg-type]
        else:
            flight.set_exception(exc)
            flight.exception()  # retrieved: no "never retrieved" warning when nobody followed

    def abandon(self, key: K) -> None:
        """The leader gives up without an outcome: its followers try again (one of them leads)."""
        self.settle(key, exc=LeaderGone())
