"""Crash recovery: claim the runs a dead process left ``running`` and resume them, exactly once.

Two paths lead to one interrupted run: this host's recovery at start-up (the owner's pid is gone)
and the queue redelivering the run's message to some worker. Both go through the run's lease
(``core.store.lease``) and the claim below, so only one of them executes it, from its last
checkpoint; the other answers with that execution's outcome (``await_run``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import datetime
from typing import Any

import psutil

from core.components import Continuation, process_owner
from core.durable.source import settings_of
from core.engine import Engine
from core.errors import ResearchOpsError, RunNotFound, RunOwned
from core.models import ResearchQuery, ResearchResult, RunStatus
from core.store import RunEvent, RunStore, rebuild_result
from core.store.events import TERMINAL_TYPES, as_utc
from core.store.lease import LEASE_TTL_S

AWAIT_TIMEOUT_S = 600.0
"""How long a redelivered run waits for the execution that owns it."""


def owner_is_dead(owner: str, since: datetime, host: str | None = None) -> bool:
    """True when ``owner`` (``host:pid``) ran on this host and that process is gone.

    A live pid created after ``since`` (the run's start) is a reused pid: the owner is dead.

    >>> owner_is_dead("elsewhere:1", datetime.now(), host="here")
    False
    """
    owner_host, _, pid = owner.rpartition(":")
    if owner_host != (host or socket.gethostname()) or not pid.isdigit():
        return False
    try:
        created = psutil.Process(int(pid)).create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return created > as_utc(since).timestamp() + 1.0


async def _running_runs(store: RunStore) -> list[str]:
    ids: list[str] = []
    while True:
        page = await store.list_runs(status=RunStatus.RUNNING, limit=1000, offset=len(ids))
        ids += [r.run_id for r in page]
        if len(page) < 1000:
            return ids


async def claim(
    engine: Engine, run_id: str, events: list[RunEvent], *, steal_from: str | None
) -> Continuation | None:
    """Claim an interrupted run for this process; its continuation, or None if someone else has it.

    A claim takes the run's lease (from ``steal_from``, the dead owner, if it still holds it)
    and writes a new ``started`` event at the next ``seq``; the store keeps one event per
    ``(run_id, seq)``, so when several processes claim together exactly one wins.
    """
    store, saver = engine.c.store, engine.c.checkpointer
    assert store is not None and saver is not None
    starts = [e for e in events if e.type == "started"]
    if not starts or any(e.type in TERMINAL_TYPES for e in events):
        return None
    last, first = max(starts, key=lambda e: e.seq), min(starts, key=lambda e: e.seq)
    me = process_owner()
    lease = await store.acquire_lease(run_id, me, LEASE_TTL_S, fresh=False, steal_from=steal_from)
    if not lease.held:
        return None  # a live owner runs it, or it finished
    seq = max(lease.next_seq, max(e.seq for e in events) + 1)
    data = {
        **last.data,
        "owner": me,
        "resumed_from": last.data.get("owner"),
        "attempt": lease.attempt,
    }
    # the claim keeps the first start's time, so the history row's created_at stays put
    if await store.append([RunEvent(run_id=run_id, seq=seq, type="started", at=first.at, data=data)]) != 1:
        await store.release_lease(run_id, me, finished=False)
        return None  # another process claimed it first
    query = ResearchQuery.model_validate(last.data["query"])
    has_checkpoint = await saver.aget_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})
    return Continuation(
        start_seq=seq + 1,
        # killed before its first checkpoint: nothing ran, so start from the query
        input=None if has_checkpoint else {"query": query.model_dump(mode="json")},
        cacheable=True,
    )


async def recover(engine: Engine) -> list[str]:
    """Claim and resume every run left ``running`` by a dead process on this host.

    Resumed runs continue from their last checkpoint and complete normally (result event, record,
    cache). Returns the ids claimed; their runs go on in the background.
    """
    store, saver = engine.c.store, engine.c.checkpointer
    if store is None or saver is None:
        return []
    claimed: list[str] = []
    for run_id in await _running_runs(store):
        events = await store.events(run_id)
        starts = [e for e in events if e.type == "started"]
        if not starts:
            continue
        last = max(starts, key=lambda e: e.seq)
        owner = str(last.data.get("owner", ""))
        if not owner_is_dead(owner, last.at):
            continue
        cont = await claim(engine, run_id, events, steal_from=owner)
        if cont is None:
            continue
        query = ResearchQuery.model_validate(last.data["query"])
        settings = settings_of(last, engine.settings)
        engine.track(
            asyncio.ensure_future(engine.continue_run(query, run_id, settings, cont, raise_errors=False))
        )
        claimed.append(run_id)
    return claimed


async def _outcome(store: RunStore, run_id: str) -> ResearchResult | None:
    try:
        events = await store.events(run_id)
    except RunNotFound:
        return None
    if not any(e.type in TERMINAL_TYPES for e in events):
        return None
    result = rebuild_result(events)
    if result is None:
        errors = [e.data.get("message", "") for e in events if e.type == "error"]
        raise ResearchOpsError(f"run {run_id!r} failed: {errors[-1] if errors else 'error'}")
    return result


async def await_run(
    engine: Engine,
    query: ResearchQuery | dict[str, Any] | str,
    run_id: str,
    *,
    poll_s: float = 0.2,
    timeout_s: float = AWAIT_TIMEOUT_S,
) -> ResearchResult:
    """The outcome of a run another execution owns (a redelivered queue message, ``RunOwned``).

    Waits for that execution's terminal event; if its lease expires first (the owner died on
    another host, or handed the run back), claims the run and resumes it from its checkpoint here.
    Raises the run's error as ``ResearchOpsError``.

    >>> # except RunOwned: result = await await_run(engine, query, run_id)
    """
    store = engine.c.store
    if store is None:
        raise ResearchOpsError(f"run {run_id!r} is owned elsewhere and this process has no run store")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await engine.catch_up_events()
        result = await _outcome(store, run_id)
        if result is not None:
            return result
        lease = await store.get_lease(run_id)
        if lease is not None and not lease.finished and lease.expired() and engine.c.checkpointer is not None:
            try:
                events = await store.events(run_id)
            except RunNotFound:
                events = []
            cont = await claim(engine, run_id, events, steal_from=None) if events else None
            if cont is not None:
                starts = [e for e in events if e.type == "started"]
                last = max(starts, key=lambda e: e.seq)
                try:
                    record = await engine.continue_run(
                        ResearchQuery.model_validate(last.data["query"]),
                        run_id,
                        settings_of(last, engine.settings),
                        cont,
                    )
                except RunOwned:
                    continue
                assert record.result is not None
                return record.result
            if not events:  # leased, never started (killed at once): run it from the query here
                try:
                    return await _fresh(engine, query, run_id)
                except RunOwned:
                    pass
        await asyncio.sleep(poll_s)
    raise ResearchOpsError(f"run {run_id!r}: its owner did not finish within {timeout_s:.0f}s")


async def _fresh(engine: Engine, query: ResearchQuery | dict[str, Any] | str, run_id: str) -> ResearchResult:
    """Run a leased-but-never-started run from its query (a continuation: the lease is expired)."""
    parsed = engine.parse_query(query)
    cont = Continuation(input={"query": parsed.model_dump(mode="json")}, cacheable=True)
    record = await engine.continue_run(parsed, run_id, engine.settings, cont)
    assert record.result is not None
    return record.result
