"""Bursts in their own process: stored timeline and summary, cancellation, operator caps."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from core.errors import InvalidInput
from core.load.bursts import BurstManager
from core.load.spec import BurstSpec
from tests.load.conftest import QUESTIONS
from tests.support.wait import wait_until


def test_burst_runs_in_another_process_and_stores_everything(manager: BurstManager) -> None:
    burst_id = manager.start(
        BurstSpec(
            users=5, duration_s=2, think_time_s=0.01, questions=QUESTIONS, mix="zipf:1.1", label="smoke"
        )
    )
    status = manager.wait(burst_id, 90)
    assert status["state"] == "finished", status
    assert status["pid"] != os.getpid()
    timeline = manager.timeline(burst_id)
    assert [e["t"] for e in timeline] == list(range(1, len(timeline) + 1))
    assert len(timeline) == 3  # two seconds of load + the (partial) drain second
    s = manager.summary(burst_id)
    assert s is not None and s["state"] == "finished" and s["cancelled_run"] is False
    assert s["completed"] > 0 and s["completed"] + s["errors"] + s["rejected"] == s["issued"]
    assert sum(e["issued"] for e in timeline) == s["issued"]
    assert s["settings_version"] >= 1 and s["settings"]["cache"] == "l1+l2"
    assert manager.timeline(burst_id, since=2) == timeline[2:]
    assert manager.spec(burst_id)["label"] == "smoke"
    assert [b["id"] for b in manager.list()] == [burst_id]


def test_cancel_stops_promptly_and_keeps_a_partial_summary(manager: BurstManager) -> None:
    burst_id = manager.start(
        BurstSpec(users=5, duration_s=60, think_time_s=0.05, questions=QUESTIONS, mix="uniform")
    )
    wait_until(
        lambda: manager.timeline(burst_id) or manager.status(burst_id)["state"] == "failed",
        90,
        "the first timeline entry",
    )
    pid = manager.status(burst_id)["pid"]
    t0 = time.monotonic()
    status = manager.cancel(burst_id, grace_s=10)
    took = time.monotonic() - t0
    assert status["state"] == "cancelled", status
    assert took < 10  # handled SIGTERM itself: never needed the SIGKILL
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    s = manager.summary(burst_id)
    assert s is not None and s["cancelled_run"] is True and s["stopped_early"] is True
    assert s["completed"] + s["errors"] + s["rejected"] == s["issued"] and s["issued"] > 0
    assert s["elapsed_s"] < 30


def test_caps_are_enforced_before_any_process_starts(manager: BurstManager) -> None:
    with pytest.raises(InvalidInput) as err:
        manager.start(BurstSpec(users=51, duration_s=61))
    fields = {e["field"]: e["message"] for e in err.value.errors}
    assert "limit of 50" in fields["users"] and "max_users" in fields["users"]
    assert "limit of 60" in fields["duration_s"]
    with pytest.raises(InvalidInput, match=r"rate: 500/s is over the operator limit of 200/s"):
        manager.start(BurstSpec(mode="open", rate=10, rate_steps=({"at_s": 1, "rate": 500},)))
    with pytest.raises(InvalidInput, match=r"cache"):
        manager.start(BurstSpec(overrides={"cache": "sometimes"}))
    assert manager.list() == []


def test_bad_workloads_are_refused_by_the_caller(manager: BurstManager, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing\.txt"):
        manager.start(BurstSpec(questions_file=str(tmp_path / "missing.txt")))
    with pytest.raises(InvalidInput, match="only 8"):
        manager.start(BurstSpec(questions=QUESTIONS, mix="zipf:1.1:1000"))


def test_a_process_that_dies_is_reported_failed(manager: BurstManager) -> None:
    burst_id = manager.start(
        BurstSpec(users=1, duration_s=1, http_url="http://127.0.0.1:9", target="http", mode="open")
    )
    status = manager.wait(burst_id, 90)
    assert status["state"] == "failed" and "closed loop only" in status["error"]


def test_a_burst_over_processes_merges_their_seconds_with_exact_counts(manager: BurstManager) -> None:
    spec = BurstSpec(
        users=7, duration_s=2, think_time_s=0.01, questions=QUESTIONS, mix="uniform", processes=3, seed=4
    )
    burst_id = manager.start(spec)
    details: set[str] = set()

    def started() -> bool:  # start-up names its step (the Load page shows it)
        st = manager.status(burst_id)
        if st.get("detail"):
            details.add(st["detail"])
        return st["state"] != "starting"

    wait_until(started, 180, "the burst to leave 'starting'", interval_s=0.02)
    assert any(d.endswith("load processes ready (each loads the search indexes and opens its engine)")
               for d in details), details  # fmt: skip
    status = manager.wait(burst_id, 180)
    assert status["state"] == "finished", status
    assert status["processes"] == 3 and status.get("detail") is None
    s = manager.summary(burst_id)
    assert s is not None and s["processes"] == 3 and len(s["pids"]) == 3 and "failed_processes" not in s
    assert s["completed"] > 0 and s["completed"] + s["errors"] + s["rejected"] == s["issued"]
    assert sum(p["issued"] for p in s["per_process"]) == s["issued"]
    assert s["users"] == 7
    timeline = manager.timeline(burst_id)
    assert [e["t"] for e in timeline] == list(range(1, len(timeline) + 1))
    assert sum(e["issued"] for e in timeline) == s["issued"]
    assert sum(e["completed"] for e in timeline) == s["completed"]
    assert all(e["processes"] == 3 and "coalesced" in e and "hdr" not in e for e in timeline)
    assert timeline[0]["users"] <= 7 and s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
