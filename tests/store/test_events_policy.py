"""Pure parts: event model, state folding, event policy, the factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import ConfigError
from core.store import EventPolicy, PostgresRunStore, RunEvent, SQLiteRunStore, open_store, rebuild_state
from tests.store.runfactory import expected_state, make_run


def test_event_times_are_utc_and_events_frozen() -> None:
    local = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    event = RunEvent(run_id="r", seq=0, type="started", at=local)
    assert event.at == local and event.at.tzinfo == UTC and event.at.hour == 10
    assert RunEvent(run_id="r", seq=0, type="started", at=datetime(2026, 5, 1)).at.tzinfo == UTC
    with pytest.raises(ValidationError):
        event.seq = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        RunEvent(run_id="r", seq=-1, type="started")
    with pytest.raises(ValidationError):
        RunEvent(run_id="r", seq=0, type="exploded")  # type: ignore[arg-type]


def test_rebuild_state_appends_reducer_keys_and_replaces_others_in_seq_order() -> None:
    events = make_run("r1")
    assert rebuild_state(reversed(events)) == expected_state("r1")
    # A prefix of the log: the state as it was once search_sources had written two hits (seq 6, 7).
    partial = [e for e in events if e.seq <= 7]
    state = rebuild_state(partial)
    assert [h["source"] for h in state["hits"]] == ["stdlib", "packages"]
    assert state["terms"] == ["gather", "coroutines"]


def test_policy_modes() -> None:
    events = make_run("p1")
    assert EventPolicy(mode="full").filter(events) == events
    kept = EventPolicy(mode="summary").filter(events)
    assert [e.type for e in kept] == ["started", "completed"]
    assert kept[0].data["summary_only"] is True and "summary_only" not in events[0].data
    assert EventPolicy(mode="sampled", sample_rate=1.0).filter(events) == events
    assert len(EventPolicy(mode="sampled", sample_rate=0.0).filter(events)) == 2


def test_sampling_is_seeded_stable_and_near_the_rate() -> None:
    ids = [f"run-{i}" for i in range(2000)]
    policy = EventPolicy(mode="sampled", sample_rate=0.25, seed=7)
    chosen = {r for r in ids if policy.logs_full(r)}
    assert 0.2 < len(chosen) / len(ids) < 0.3
    assert chosen == {r for r in ids if EventPolicy(mode="sampled", sample_rate=0.25, seed=7).logs_full(r)}
    assert chosen != {r for r in ids if EventPolicy(mode="sampled", sample_rate=0.25, seed=8).logs_full(r)}


def test_open_store_picks_backend_from_url(tmp_path: Path) -> None:
    assert isinstance(open_store(None, tmp_path), SQLiteRunStore)
    assert isinstance(open_store("postgresql://u@127.0.0.1:5432/db", tmp_path), PostgresRunStore)
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        open_store("mysql://x", tmp_path)
