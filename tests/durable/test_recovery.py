"""Crash recovery (a child killed with SIGKILL mid-run, resumed by a fresh engine) and retention."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core import durable
from core.durable import recovery
from core.errors import RunNotFound
from core.models import RunStatus
from core.store import rebuild_result
from tests.conftest import REPO
from tests.durable.crash_child import QUESTION
from tests.support.wait import await_until


async def test_a_run_killed_mid_flight_is_resumed_without_repeating_finished_nodes(
    durable_env: Any, open_engine: Any, index_dir: Path
) -> None:
    settings, schema = durable_env
    watcher = await open_engine()  # the store and checkpointer the child writes to
    run_id = f"crash-{os.getpid()}-{time.time_ns()}"
    child = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "tests.durable.crash_child",
            str(settings.data_dir),
            str(index_dir),
            settings.database_url or "-",
            schema,
            run_id,
        ],
        cwd=REPO,
    )
    try:

        async def parse_query_checkpointed() -> bool:
            try:
                events = await watcher.c.store.events(run_id)
            except RunNotFound:
                return False
            done = any(e.type == "node_finished" and e.data["node"] == "parse_query" for e in events)
            tup = await watcher.c.checkpointer.aget_tuple({"configurable": {"thread_id": run_id}})
            return done and tup is not None and tup.metadata.get("step", -1) >= 1

        await await_until(parse_query_checkpointed, 120, "the child's parse_query checkpoint")
        assert child.returncode is None, "the child finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 10)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert (await watcher.c.store.get_summary(run_id)).status == RunStatus.RUNNING

    fresh = await open_engine()  # a fresh engine: open_engine starts recovery in the background

    async def finished() -> Any:
        summary = await fresh.c.store.get_summary(run_id)
        return summary if summary.status != RunStatus.RUNNING else None

    summary = await await_until(finished, 60, "the recovered run to finish")
    assert summary.status == RunStatus.OK
    events = await fresh.c.store.events(run_id)
    starts = [e for e in events if e.type == "started"]
    assert [s.data["owner"].split(":")[1] for s in starts] == [str(child.pid), str(os.getpid())]
    ran = Counter(e.data["node"] for e in events if e.type == "node_started")
    assert ran["parse_query"] == 1  # finished before the kill: not run again
    assert ran["generate_summary"] == 1 and ran["analyze_findings"] >= 1
    result = rebuild_result(events)
    assert result is not None and result.findings and "[1]" in result.summary
    assert result.emulated  # the resumed run kept its recorded (emulated-latency) settings
    assert [e.seq for e in events] == list(range(len(events)))


async def test_recovery_leaves_runs_of_live_owners_alone(dengine: Any) -> None:
    dengine.update_settings(cache="off")
    await dengine.run(QUESTION, run_id="live-1")
    assert await durable.recover(dengine) == []  # completed: nothing to claim
    host = recovery.socket.gethostname()
    since = datetime.now(UTC)  # a run started by this (older) process just now
    assert not durable.owner_is_dead(f"{host}:{os.getpid()}", since)
    assert not durable.owner_is_dead(f"another-host:{os.getpid()}", since)
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    assert durable.owner_is_dead(f"{host}:{dead.pid}", since)
    # a pid reused by a process younger than the run is not the run's owner
    assert durable.owner_is_dead(f"{host}:{os.getpid()}", datetime.now(UTC) - timedelta(days=365))


async def test_prune_deletes_old_runs_and_their_checkpoints(dengine: Any) -> None:
    dengine.update_settings(cache="off")
    for i in range(3):
        await dengine.run(QUESTION, run_id=f"keep-{i}")
    await dengine.c.events.flush()
    saver = dengine.c.checkpointer
    assert {"keep-0", "keep-1", "keep-2"} <= await durable.thread_ids(saver)
    report = await durable.prune(dengine.c.store, saver, max_runs=1)
    assert report == {"runs": 2, "checkpoint_threads": 2}
    assert await durable.thread_ids(saver) == {"keep-2"}
    assert [r.run_id for r in await dengine.c.store.list_runs()] == ["keep-2"]
    assert (await durable.history(dengine, "keep-2"))[-1].next == []
