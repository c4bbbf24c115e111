"""Run leases over every backend: one owner at a time, expiry, stealing from a dead owner, attempts."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import RunOwned
from core.store import RunEvent, RunStore
from core.store.lease import Lease, LeaseKeeper
from tests.support.wait import await_until


async def test_a_fresh_run_is_leased_once_and_never_again(store: RunStore) -> None:
    first = await store.acquire_lease("r1", "a:1", 30, fresh=True)
    assert first.held and first.attempt == 1 and first.next_seq == 0
    again = await store.acquire_lease("r1", "b:2", 30, fresh=True)
    assert not again.held and again.owner == "a:1"
    # even its own owner does not start it afresh: a fresh take means "never ran"
    assert not (await store.acquire_lease("r1", "a:1", 30, fresh=True)).held
    assert (await store.acquire_lease("r1", "a:1", 30, fresh=False)).held  # a continuation keeps it


async def test_a_live_lease_is_refused_an_expired_one_taken_with_the_next_attempt(store: RunStore) -> None:
    await store.acquire_lease("r2", "a:1", 0.2, fresh=True)
    assert not (await store.acquire_lease("r2", "b:2", 30, fresh=False)).held

    async def take() -> Lease | None:
        lease = await store.acquire_lease("r2", "b:2", 30, fresh=False)
        return lease if lease.held else None

    taken = await await_until(take, 10, "the expired lease to be taken")
    assert taken.attempt == 2
    assert not await store.renew_lease("r2", "a:1", 30)  # the old owner lost it
    assert await store.renew_lease("r2", "b:2", 30)


async def test_recovery_steals_from_the_dead_owner_only(store: RunStore) -> None:
    await store.acquire_lease("r3", "dead:1", 30, fresh=True)
    assert not (await store.acquire_lease("r3", "me:2", 30, fresh=False, steal_from="other:9")).held
    stolen = await store.acquire_lease("r3", "me:2", 30, fresh=False, steal_from="dead:1")
    assert stolen.held and stolen.attempt == 2


async def test_a_finished_run_is_never_leased_again_and_next_seq_follows_its_events(store: RunStore) -> None:
    await store.acquire_lease("r4", "a:1", 30, fresh=True)
    await store.append(
        [RunEvent(run_id="r4", seq=i, type="node_started", data={"node": "x"}) for i in range(3)]
    )
    lease = await store.get_lease("r4")
    assert lease is not None and lease.next_seq == 3 and not lease.finished
    await store.release_lease("r4", "a:1", finished=True)
    done = await store.acquire_lease("r4", "b:2", 30, fresh=False)
    assert not done.held and done.finished
    assert await store.get_lease("nope") is None


async def test_released_unfinished_lease_is_free_for_a_continuation(store: RunStore) -> None:
    await store.acquire_lease("r5", "a:1", 30, fresh=True)
    await store.release_lease("r5", "a:1", finished=False)  # handed back
    assert not (await store.acquire_lease("r5", "b:2", 30, fresh=True)).held
    assert (await store.acquire_lease("r5", "b:2", 30, fresh=False)).held


async def test_concurrent_takers_get_exactly_one_lease(store: RunStore) -> None:
    leases = await asyncio.gather(*(store.acquire_lease("r6", f"w:{i}", 30, fresh=True) for i in range(8)))
    assert sum(lease.held for lease in leases) == 1


async def test_keeper_raises_run_owned_and_releases(store: RunStore) -> None:
    keeper = LeaseKeeper(store, "r7", "a:1", ttl_s=30)
    assert (await keeper.take(fresh=True)) is not None
    with pytest.raises(RunOwned):
        await LeaseKeeper(store, "r7", "b:2").take(fresh=True)
    await keeper.release(finished=True)
    lease = await store.get_lease("r7")
    assert lease is not None and lease.finished
