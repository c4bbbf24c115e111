"""The Metrics page sees every process: a burst's runs count beside the dashboard's own, its process
is listed, exact percentiles sit beside bucket estimates, and empty charts say so."""

from __future__ import annotations

import uuid

from streamlit.testing.v1 import AppTest

from dashboard import jobs, services
from tests.dashboard.apphelpers import burst_manager, open_page, table, texts
from tests.support.wait import wait_until

QUESTION = "How do I run coroutines concurrently and wait for all of them?"


def test_a_burst_process_shows_beside_the_dashboard(operator: AppTest) -> None:
    services.ask(f"{QUESTION} ({uuid.uuid4().hex[:8]})", max_sources=3)  # uncached: its nodes run here
    own = services.own_runs()["ok"]
    burst_id = jobs.start_burst(users=2, duration_s=2)
    status = burst_manager().wait(burst_id, timeout_s=90)
    assert status["state"] == "finished", status
    completed = burst_manager().summary(burst_id)["completed"]
    view = services.metrics_source().merged
    wait_until(lambda: view.counts().runs.get("ok", 0) >= own + completed, 10, "the burst's runs")

    open_page(operator, "metrics")
    assert "every local process" in texts(operator)
    runs_ok = int(operator.metric[0].value)
    assert runs_ok >= own + completed > own  # the burst's runs, not only the dashboard's
    procs = table(operator, "process", "role", "alive")
    assert {"dashboard", "burst"} <= set(procs["role"])
    nodes = table(operator, "node", "p95 exact", "p95 est.")
    assert nodes["p95 exact"].notna().any() and nodes["p95 est."].notna().any()
    assert len(operator.get("plotly_chart")) >= 10


def test_charts_without_data_say_none_yet() -> None:
    from dashboard import charts

    fig = charts.ts_lines({}, "Error rate", "%")
    assert fig.data == () and fig.layout.annotations[0].text == "none yet"
    assert fig.layout.title.text == "Error rate (%)"
    marked = charts.ts_lines({"p95": [(1000.0, 0.1), (1002.0, 0.2)]}, "Latency", "ms", [(1001.0, "v2 naive")])
    glyph = marked.layout.annotations[0]
    assert glyph.text == "◆" and "v2 naive" in glyph.hovertext  # the label on hover, not stacked text
