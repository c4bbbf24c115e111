"""The Load page: every load-shape field reaches the burst's spec, the headline says what it measures
and agrees with the chart, the summary and past bursts are tables with the right state and times,
two bursts overlay, and no burst process is left <defunct>."""

from __future__ import annotations

import psutil
from streamlit.testing.v1 import AppTest

from dashboard import frames, jobs
from tests.dashboard.apphelpers import burst_manager, open_page, table, texts


def _launch(at: AppTest, **numbers: float) -> str:
    for key, value in numbers.items():
        at.number_input(key=key).set_value(value)
    next(b for b in at.button if b.label == "Launch burst").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    return str(at.session_state["burst_id"])


def test_form_fields_reach_the_spec() -> None:
    spec = jobs.burst_spec(
        users=20_000, duration_s=5, mode="open", rate=40, rate_steps="0:40,2:80", arrivals="uniform",
        ramp_up_s=3, think="exponential", think_time_s=0.5, model_ms=120,
    )  # fmt: skip
    assert spec.users == 20_000 and spec.mode == "open" and spec.arrivals == "uniform"
    assert [(s.at_s, s.rate) for s in spec.rate_steps] == [(0.0, 40.0), (2.0, 80.0)]
    assert spec.ramp_up_s == 3 and spec.think == "exponential"
    assert spec.emulate_model and spec.model_latency.median_ms == 120
    assert "engine" in jobs.target_choices()


def test_partial_last_second_is_not_charted_and_headline_matches_the_chart() -> None:
    rows = [
        {"t": 1, "span_s": 1.0, "completed": 40, "throughput": 40.0, "p95_ms": 30.0, "errors": 0},
        {"t": 2, "span_s": 1.0, "completed": 60, "throughput": 60.0, "p95_ms": 50.0, "errors": 2},
        {"t": 3, "span_s": 0.08, "completed": 1, "throughput": 12.5, "p95_ms": 9.0, "errors": 0},
    ]
    charted = frames.full_seconds(rows)
    assert [r["t"] for r in charted] == [1, 2]  # the cut-off third second is not drawn as a drop
    assert charted[1]["errors_per_s"] == 2.0
    head = frames.burst_headline(rows, None)
    assert head["last"]["throughput"] == charted[-1]["throughput"]  # the chart's last point
    assert head["whole"]["completed"] == 101  # totals include every entry
    assert head["whole"]["throughput"] == 101 / 2.08
    final = frames.burst_headline(rows, {"completed": 101, "throughput": 48.0, "p95_ms": 49.0})
    assert final["whole"]["exact"] and final["whole"]["p95_ms"] == 49.0


def test_a_finished_burst_reads_as_tables_and_lists_right(operator: AppTest) -> None:
    open_page(operator, "load")
    burst_id = _launch(operator, b_users=2, b_duration=2)
    status = burst_manager().wait(burst_id, timeout_s=90)
    assert status["state"] == "finished", status
    operator.run()
    assert f"Burst `{burst_id}` · **finished**" in texts(operator)
    assert "**Whole burst** · all" in texts(operator)
    summary = table(operator, "Burst", "Throughput (runs/s)", "p95 (ms)")
    assert list(summary["Burst"]) == [burst_id] and summary["Completed"][0] > 0
    past = table(operator, "id", "state", "launched", "ran (s)")
    row = past[past["id"] == burst_id].iloc[0]
    assert row["state"] == "finished" and row["launched"] is not None and row["ran (s)"] > 0
    assert "CSV" in [getattr(b, "label", None) for b in operator.get("download_button")]
    zombies = [p for p in psutil.Process().children() if p.status() == psutil.STATUS_ZOMBIE]
    assert not zombies  # the manager waited for its burst process


def test_two_bursts_overlay_side_by_side(operator: AppTest) -> None:
    open_page(operator, "load")
    first = _launch(operator, b_users=2, b_duration=2)
    burst_manager().wait(first, timeout_s=90)
    second = _launch(operator, b_users=3, b_duration=2)
    burst_manager().wait(second, timeout_s=90)
    operator.run()
    operator.multiselect(key="b_compare").set_value([first, second]).run()
    assert not operator.exception, operator.exception
    compared = [d.value for d in operator.dataframe if "Burst" in d.value.columns and len(d.value) == 2]
    assert compared and set(compared[0]["Burst"]) == {first, second}
    assert len(operator.get("plotly_chart")) == 2  # the live burst's panel and the overlay
