"""The RunStore contract, run over every backend (SQLite file and PostgreSQL schema)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import CodecError, InvalidInput, RunNotFound
from core.models import RunStatus
from core.store import EventPolicy, Retention, RunEvent, RunStore, rebuild_result, rebuild_state
from tests.store.runfactory import expected_state, make_run, result_for


def dumps(events: list[RunEvent]) -> list[dict]:
    return [e.model_dump() for e in events]


async def test_events_come_back_complete_and_in_seq_order(store: RunStore) -> None:
    """A batch appended out of order is read back whole, by seq, with exact timestamps and data."""
    events = make_run("r1")
    shuffled = events[:]
    random.Random(1).shuffle(shuffled)
    assert await store.append(shuffled) == len(events) == 20
    got = await store.events("r1")
    assert [e.seq for e in got] == list(range(20))
    assert dumps(got) == dumps(events)
    assert all(e.at.tzinfo is not None and e.at.utcoffset() == timedelta(0) for e in got)


async def test_append_is_idempotent_on_run_and_seq(store: RunStore) -> None:
    """Re-sending events (a retried batch, an overlapping batch) stores each (run_id, seq) once."""
    events = make_run("r1")
    assert await store.append(events[:12]) == 12
    assert await store.append(events[:12]) == 0
    assert await store.append(events[8:]) == 8
    assert len(await store.events("r1")) == 20
    summary = await store.get_summary("r1")
    assert summary.n_events == 20
    assert summary.status == RunStatus.OK


async def test_summary_row_follows_the_run(store: RunStore) -> None:
    """started creates a running row; completed/error close it with status, finish time, duration."""
    t0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    events = make_run("r1", "What is asyncio.TaskGroup?", version=7, start=t0)
    await store.append(events[:5])
    running = await store.get_summary("r1")
    assert (running.status, running.question, running.settings_version) == (
        RunStatus.RUNNING,
        "What is asyncio.TaskGroup?",
        7,
    )
    assert running.created_at == t0 and running.finished_at is None and running.duration_s is None
    await store.append(events[5:])
    done = await store.get_summary("r1")
    assert done.status == RunStatus.OK
    assert done.finished_at == events[-1].at
    assert done.duration_s == pytest.approx(0.19)
    assert not done.sampled

    await store.append(make_run("r2", status=RunStatus.ERROR))
    await store.append(make_run("r3", status=RunStatus.PARTIAL))
    assert (await store.get_summary("r2")).status == RunStatus.ERROR
    assert (await store.get_summary("r3")).status == RunStatus.PARTIAL


async def test_unknown_run_raises_run_not_found(store: RunStore) -> None:
    await store.append(make_run("known"))
    with pytest.raises(RunNotFound):
        await store.events("unknown")
    with pytest.raises(RunNotFound):
        await store.get_summary("unknown")


async def test_state_and_result_rebuilt_from_stored_events(store: RunStore) -> None:
    """Folding the stored state deltas gives the run's final state; completed gives its result."""
    events = make_run("r1", "Explain asyncio gather semantics", version=3)
    await store.append(events)
    stored = await store.events("r1")
    assert rebuild_state(stored) == expected_state("r1")
    assert rebuild_result(stored) == result_for("r1", "Explain asyncio gather semantics", RunStatus.OK, 3)


async def test_list_runs_searches_and_filters(store: RunStore) -> None:
    """Newest first; text is a case-insensitive substring (Unicode too); status, time, version filter."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    specs = [
        ("a", "How do I gather COROUTINES?", RunStatus.OK, 1),
        ("b", "What does functools.cache do?", RunStatus.ERROR, 1),
        ("c", "Gathering results über asyncio", RunStatus.PARTIAL, 2),
        ("d", "Is 100% of pathlib portable?", RunStatus.OK, 2),
    ]
    for i, (run_id, question, status, version) in enumerate(specs):
        await store.append(
            make_run(run_id, question, status=status, version=version, start=t0 + timedelta(hours=i))
        )
    await store.append(
        make_run("e", "An unfinished question here", start=t0 + timedelta(hours=9), finish=False)
    )

    async def ids(**kw: object) -> list[str]:
        return [s.run_id for s in await store.list_runs(**kw)]  # type: ignore[arg-type]

    assert await ids() == ["e", "d", "c", "b", "a"]
    assert await ids(text="gather") == ["c", "a"]
    assert await ids(text="ÜBER") == ["c"]
    assert await ids(text="100%") == ["d"]  # LIKE wildcards are literal text
    assert await ids(text="no such words") == []
    assert await ids(status="ok") == ["d", "a"]
    assert await ids(status=RunStatus.RUNNING) == ["e"]
    assert await ids(settings_version=2) == ["d", "c"]
    assert await ids(since=t0 + timedelta(hours=1), until=t0 + timedelta(hours=3)) == ["c", "b"]
    assert await ids(text="gather", settings_version=1, status="ok") == ["a"]
    assert await ids(limit=2) == ["e", "d"]
    assert await ids(limit=2, offset=2) == ["c", "b"]
    assert await store.count() == 5
    with pytest.raises(InvalidInput, match="limit"):
        await store.list_runs(limit=0)
    with pytest.raises(InvalidInput, match="status"):
        await store.list_runs(status="exploded")


async def test_retention_by_count_keeps_newest(store: RunStore) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    for i in range(6):
        await store.append(make_run(f"r{i}", start=t0 + timedelta(seconds=i)))
    assert await Retention(max_runs=4).apply(store) == 2
    assert await store.count() == 4
    assert [s.run_id for s in await store.list_runs()] == ["r5", "r4", "r3", "r2"]
    with pytest.raises(RunNotFound):
        await store.events("r0")  # the run's events go with it
    assert await store.prune(max_age_s=None, max_runs=None) == 0


async def test_retention_by_age_deletes_old_runs(store: RunStore) -> None:
    now = datetime.now(UTC)
    await store.append(make_run("old1", start=now - timedelta(hours=3)))
    await store.append(make_run("old2", start=now - timedelta(hours=2)))
    await store.append(make_run("new", start=now - timedelta(minutes=5)))
    assert await store.prune(max_age_s=3600, max_runs=None) == 2
    assert [s.run_id for s in await store.list_runs()] == ["new"]
    for run_id in ("old1", "old2"):
        with pytest.raises(RunNotFound):
            await store.events(run_id)
    assert len(await store.events("new")) == 20


async def test_concurrent_writers_lose_nothing_and_keep_order(store: RunStore) -> None:
    """50 runs x 20 events, each run sent as 4 batches by its own task, all at once."""
    runs = {f"c{i:02d}": make_run(f"c{i:02d}", f"Concurrent question number {i}") for i in range(50)}

    async def write(events: list[RunEvent]) -> None:
        for k in range(0, 20, 5):
            await store.append(events[k : k + 5])

    await asyncio.gather(*(write(events) for events in runs.values()))
    assert await store.count() == 50
    for run_id, events in runs.items():
        got = await store.events(run_id)
        assert [(e.seq, e.type) for e in got] == [(e.seq, e.type) for e in events]
        summary = await store.get_summary(run_id)
        assert (summary.n_events, summary.status) == (20, RunStatus.OK)


async def test_concurrent_duplicate_batches_count_once(store: RunStore) -> None:
    """The same batch sent by many tasks at once is stored once and counted once."""
    events = make_run("dup")
    new = await asyncio.gather(*(store.append(events) for _ in range(8)))
    assert sum(new) == 20
    assert (await store.get_summary("dup")).n_events == 20


async def test_summary_policy_keeps_history_and_result(store: RunStore) -> None:
    """Under the summary policy a run keeps started + completed: a sampled row, a full result."""
    events = make_run("s1", "Summarized burst question")
    await store.append(EventPolicy(mode="summary").filter(events))
    stored = await store.events("s1")
    assert [e.type for e in stored] == ["started", "completed"]
    summary = await store.get_summary("s1")
    assert summary.sampled and summary.n_events == 2 and summary.status == RunStatus.OK
    assert rebuild_result(stored) == rebuild_result(events)


async def test_non_json_data_is_rejected_and_nothing_stored(store: RunStore) -> None:
    bad = RunEvent(run_id="bad", seq=1, type="error", data={"message": object()})
    good = make_run("bad")[0]
    with pytest.raises(CodecError, match="bad/1"):
        await store.append([good, bad])
    with pytest.raises(RunNotFound):
        await store.events("bad")
