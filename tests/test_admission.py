"""Admission control: a global limit, a bounded FIFO queue, Overloaded at once beyond it."""

import asyncio

import pytest

from core.admission import Admission
from core.errors import Overloaded


async def _hold(adm: Admission, gate: asyncio.Event, started: list[int], i: int) -> int:
    async with adm.slot():
        started.append(i)
        await gate.wait()
    return i


async def test_runs_beyond_the_limit_wait_and_beyond_the_queue_are_refused() -> None:
    adm = Admission(max_concurrent=2, queue_limit=2)
    gate, started = asyncio.Event(), []
    tasks = [asyncio.create_task(_hold(adm, gate, started, i)) for i in range(4)]
    while adm.active + adm.waiting < 4:
        await asyncio.sleep(0)
    assert (adm.active, adm.waiting) == (2, 2)
    with pytest.raises(Overloaded) as info:
        async with adm.slot():
            pass
    assert info.value.active == 2 and info.value.queued == 2
    assert adm.rejected == 1
    gate.set()
    assert sorted(await asyncio.gather(*tasks)) == [0, 1, 2, 3]
    assert started[:2] == [0, 1] and started[2:] == [2, 3]  # FIFO
    assert (adm.active, adm.waiting) == (0, 0)


async def test_raising_the_limit_admits_waiters_at_once() -> None:
    adm = Admission(max_concurrent=1, queue_limit=10)
    gate, started = asyncio.Event(), []
    tasks = [asyncio.create_task(_hold(adm, gate, started, i)) for i in range(3)]
    while len(started) < 1 or adm.waiting < 2:
        await asyncio.sleep(0)
    adm.configure(max_concurrent=3, queue_limit=10)
    while len(started) < 3:
        await asyncio.sleep(0)
    assert adm.active == 3
    gate.set()
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_leaves_the_queue_and_frees_nothing_it_did_not_hold() -> None:
    adm = Admission(max_concurrent=1, queue_limit=5)
    gate, started = asyncio.Event(), []
    first = asyncio.create_task(_hold(adm, gate, started, 0))
    waiter = asyncio.create_task(_hold(adm, gate, started, 1))
    while adm.waiting < 1:
        await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert adm.waiting == 0 and adm.active == 1
    gate.set()
    await first
    assert adm.active == 0
