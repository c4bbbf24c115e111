"""A worker SIGKILLed with runs in flight and replaced at once on the same host: each run executes once.

The issue: the new worker's crash recovery resumed those runs *and* the queue redelivered them,
so every node ran twice (12 checkpoints for 6), and the store's ``INSERT OR IGNORE`` on
``(run_id, seq)`` dropped the second execution's events. Now a run has one owner at a time (its
lease): recovery takes it over from the dead worker and resumes from the last checkpoint; the
redelivered message finds the run owned and answers with that execution's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from core.config import EngineSettings, LatencyProfile
from core.errors import RunNotFound
from core.queue import WorkerPool
from core.settings_sync import SettingsSync
from core.store import RunEvent, SQLiteRunStore
from core.store.factory import SQLITE_FILE
from tests.support.wait import await_until

QUESTION = "How do I run coroutines concurrently and wait for all of them"
RUNS = 4


async def _events(store: SQLiteRunStore, run_id: str) -> list[RunEvent]:
    try:
        return await store.events(run_id)
    except RunNotFound:
        return []


def _finished(events: list[RunEvent]) -> Counter[str]:
    return Counter(
        e.data["node"] for e in events if e.type == "node_finished" and not e.data.get("cache_hit")
    )


async def test_a_worker_killed_and_replaced_at_once_executes_each_run_once(
    redis_server: Any, start_worker: Any, tmp_path: Path
) -> None:
    sync = SettingsSync.from_url(redis_server.url)
    assert await sync.publish(
        EngineSettings(cache="off", model_latency=LatencyProfile(median_ms=900, sigma=0))
    )
    store = SQLiteRunStore(tmp_path / "data" / SQLITE_FILE)  # the workers' own run store
    first = start_worker("first", concurrency=RUNS, idle_timeout=2)
    first.wait_ready()
    run_ids = [f"crash-{i}" for i in range(RUNS)]
    pool = WorkerPool(redis_server.url, timeout_s=300)
    await pool.start()
    try:
        jobs = [
            asyncio.create_task(pool.run_job(f"{QUESTION} crash {i}?", run_id=run_id))
            for i, run_id in enumerate(run_ids)
        ]

        async def all_past_their_first_node() -> bool:
            for run_id in run_ids:
                if not _finished(await _events(store, run_id)):
                    return False
            return True

        await await_until(all_past_their_first_node, 120, "every run past its first node")
        before = {run_id: _finished(await _events(store, run_id)) for run_id in run_ids}
        first.signal(signal.SIGKILL)
        first.proc.wait(timeout=10)  # reaped: its pid is gone, as after a real crash
        second = start_worker("second", concurrency=RUNS, idle_timeout=2)  # replaced at once
        done = await asyncio.wait_for(asyncio.gather(*jobs), 300)
        await pool.run_job(f"{QUESTION} no crash?", run_id="baseline")
    finally:
        # bounded: closing the client is not what this test is about (see the H15 report)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pool.aclose(), 10)

    assert all(j.result.status == "ok" and j.worker_id == "second" for j in done)

    async def all_logged() -> bool:
        # a reply can arrive before the worker's event writer flushed the run's last events
        for run_id in [*run_ids, "baseline"]:
            if not any(e.type == "completed" for e in await _events(store, run_id)):
                return False
        return True

    await await_until(all_logged, 30, "every run's completed event in the store")
    expected = _finished(await _events(store, "baseline"))
    report = {}
    for run_id in run_ids:
        events = await _events(store, run_id)
        starts = [e for e in events if e.type == "started"]
        finished = _finished(events)
        report[run_id] = dict(finished)
        # both executions are in the history, numbered; nothing was dropped as a duplicate seq
        assert [s.data.get("attempt") for s in starts] == [1, 2], [s.data for s in starts]
        assert starts[0].data["owner"] != starts[1].data["owner"]
        assert [e.seq for e in events] == list(range(len(events)))
        assert sum(e.type == "completed" for e in events) == 1
        # no node finished twice over both executions: nothing done before the kill ran again
        assert set(finished) <= set(expected) and all(n == 1 for n in finished.values()), (run_id, finished)
        after_kill = {e.data["node"] for e in events if e.seq > starts[1].seq and e.type == "node_started"}
        assert not after_kill & set(before[run_id])
        # A node with no finish event at all finished in the killed worker just before SIGKILL, while
        # its event was still in that process's write buffer: the replacement resumed after it (its
        # checkpoint was saved) and never started it. Any other gap would be a lost execution.
        missing = set(expected) - set(finished)
        assert not missing & after_kill, (run_id, missing)
    print(f"worker crash: {RUNS} runs, all completed by 'second'; executions per node {report}")
    second.stop()
    await store.close()
    await sync.aclose()
