"""Wait on a condition, never on a fixed sleep: one sync and one async poll-until helper.

port = wait_until(lambda: server.port, 10, "the server's port")
row = await await_until(lambda: store.get(run_id), 30, "the run's row")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def _timed_out(timeout_s: float, what: str, last: object) -> AssertionError:
    return AssertionError(f"timed out after {timeout_s:g}s waiting for {what}; last value: {last!r}")


def wait_until(
    probe: Callable[[], T | None], timeout_s: float = 60.0, what: str = "condition", interval_s: float = 0.05
) -> T:
    """Call ``probe`` until it returns something truthy (returned); AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval_s)  # poll interval; the deadline bounds the wait
    raise _timed_out(timeout_s, what, last)


async def await_until(
    probe: Callable[[], Awaitable[T | None]],
    timeout_s: float = 60.0,
    what: str = "condition",
    interval_s: float = 0.05,
) -> T:
    """Await ``probe()`` until it returns something truthy (returned); AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)  # poll interval; the deadline bounds the wait
    raise _timed_out(timeout_s, what, last)
