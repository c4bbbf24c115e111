"""Crash recovery: claim the runs a dead process on this host left ``running`` and resume them."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime

import psutil

from core.components import Continuation, process_owner
from core.durable.source import settings_of
from core.engine import Engine
from core.models import ResearchQuery, RunStatus
from core.store import RunEvent, RunStore
from core.store.events import TERMINAL_TYPES, as_utc


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


async def recover(engine: Engine) -> list[str]:
    """Claim and resume every run left ``running`` by a dead process on this host.

    A claim is a new ``started`` event at the next ``seq``: the store keeps one event per
    ``(run_id, seq)``, so when several processes start together exactly one wins each run.
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
        if not starts or any(e.type in TERMINAL_TYPES for e in events):
            continue
        last, first = max(starts, key=lambda e: e.seq), min(starts, key=lambda e: e.seq)
        if not owner_is_dead(str(last.data.get("owner", "")), last.at):
            continue
        seq = max(e.seq for e in events) + 1
        data = {**last.data, "owner": process_owner(), "resumed_from": last.data.get("owner")}
        # the claim keeps the first start's time, so the history row's created_at stays put
        if (
            await store.append([RunEvent(run_id=run_id, seq=seq, type="started", at=first.at, data=data)])
            != 1
        ):
            continue  # another process claimed it first
        query = ResearchQuery.model_validate(last.data["query"])
        settings = settings_of(last, engine.settings)
        has_checkpoint = await saver.aget_tuple({"configurable": {"thread_id": run_id, "checkpoint_ns": ""}})
        cont = Continuation(
            start_seq=seq + 1,
            # killed before its first checkpoint: nothing ran, so start from the query
            input=None if has_checkpoint else {"query": query.model_dump(mode="json")},
            cacheable=True,
        )
        engine.track(
            asyncio.ensure_future(engine.continue_run(query, run_id, settings, cont, raise_errors=False))
        )
        claimed.append(run_id)
    return claimed
