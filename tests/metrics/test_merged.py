"""The all-process view: every process writes its own metrics file; one reader merges them into
totals and per-second series (bucket estimates), keeps dead processes' counts, drops their gauges."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from core.metrics import Metrics
from core.metrics.merged import AllProcesses
from core.metrics.shared import ProcessFiles
from tests.metrics.conftest import PHASES
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
from core.metrics import Metrics
m = Metrics(nodes=["parse_query"])
m.export_to(sys.argv[1], interval_s=0.1)
m.set_active(2)
for _ in range(int(sys.argv[2])):
    m.observe_run("ok", 0.05, {"llm": 0.04}, [("parse_query", 0.01)], 3)
    m.cache_event("l1", "parse_query", "hit")
print("ready", flush=True)
sys.stdin.readline()  # stay alive until the test says so
"""


def _writer(directory: Path, runs: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), str(runs)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_totals_sum_every_process_and_keep_the_dead_ones_counts(tmp_path: Path) -> None:
    view = AllProcesses(tmp_path)
    a, b = _writer(tmp_path, 7), _writer(tmp_path, 5)
    try:
        wait_until(lambda: view.counts().runs.get("ok") == 12, 10)
        c = view.counts()
        assert c.processes == 2 and c.active == 4 and c.settings_version == 3
        assert {p.pid for p in view.processes()} == {a.pid, b.pid}
    finally:
        for p in (a, b):
            p.communicate("\n", timeout=20)
    wait_until(lambda: view.counts().processes == 0, 10)  # files marked exited at exit
    c = view.counts()
    assert c.runs["ok"] == 12  # a finished burst's runs stay in the totals
    assert c.active == 0  # but a dead process's gauges do not


def test_series_shows_runs_started_after_the_first_sample_as_one_point(tmp_path: Path) -> None:
    clock = [1000.0]
    view = AllProcesses(tmp_path, clock=lambda: clock[0])
    m = Metrics(nodes=["parse_query"])
    exporter = m.export_to(tmp_path, interval_s=60)  # written by hand below
    exporter.write()
    assert view.sample() is None  # the first sample is the baseline
    for _ in range(20):
        m.observe_run("ok", 0.03, PHASES, [("parse_query", 0.004)], 1)
        m.cache_event("l1", "parse_query", "miss")
    m.cache_event("l1", "parse_query", "hit")
    exporter.write()
    clock[0] += 1
    point = view.sample()
    assert point is not None and point.t == 1001 and point.runs == 20 and point.estimated
    assert 0.02 <= (point.p50 or 0) <= 0.05  # bucket estimate inside the 20-50 ms bucket
    assert "parse_query" in point.nodes
    assert point.hit_rate_by_level["l1"] == 1 / 21
    assert view.hit_rate_by_node(range_s=60)["l1"]["parse_query"] == 1 / 21
    assert view.node_estimates(range_s=60)["parse_query"]["count"] == 20
    clock[0] += 1
    exporter.write()  # nothing new: a zero point, never a negative one
    quiet = view.sample()
    assert quiet is not None and quiet.runs == 0
    exporter.close()


def test_dashboard_start_cleans_files_of_processes_gone_before_it(tmp_path: Path) -> None:
    proc = _writer(tmp_path, 1)
    proc.communicate("\n", timeout=20)
    files = ProcessFiles(tmp_path)
    assert len(files.read()) == 1
    assert files.clean_stale(before=time.time() - 3600) == 0  # written after: kept
    assert files.clean_stale(before=time.time() + 1) == 1
    assert files.read() == []


def test_exporting_to_another_data_dir_moves_the_process_file_there(tmp_path: Path) -> None:
    """A process that opens a second data dir (an in-process CLI run, then the dashboard) is seen
    by the second dir's reader; the first dir's file is left marked exited."""
    first, second = tmp_path / "a" / "metrics", tmp_path / "b" / "metrics"
    m = Metrics(nodes=["parse_query"])
    m.export_to(first, interval_s=60, role="cli")
    m.export_to(second, interval_s=60)
    m.observe_run("ok", 0.03, PHASES, [("parse_query", 0.004)], 1)
    assert m.exporter is not None and m.exporter.directory == second and m.exporter.role == "cli"
    m.exporter.write()
    view = AllProcesses(second)
    assert [p.pid for p in view.files.read()] == [os.getpid()]
    assert view.counts().runs["ok"] == 1
    assert all(p.exited for p in AllProcesses(first).files.read())
    m.close()
