"""On-demand profiling of the next N runs, and the memory view."""

from __future__ import annotations

import asyncio
import inspect
import tracemalloc

import pytest

from core.metrics import Metrics
from core.metrics.profiling import (
    AllocationTracer,
    Profiler,
    format_phase_table,
    per_workflow_memory,
    phase_table,
)


def checksum(n: int) -> int:
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


async def one_run() -> int:
    await asyncio.sleep(0.005)
    return checksum(200_000)


@pytest.mark.parametrize("backend", ["pyinstrument", "cprofile"])
async def test_profiles_exactly_the_next_n_runs(backend: str) -> None:
    profiler = Profiler(backend=backend)  # type: ignore[arg-type]
    assert not profiler.active and profiler.report() is None
    profiler.request(runs=2)
    results = []
    for _ in range(3):  # the engine's pattern: one attribute read per run
        results.append(await (profiler.run(one_run) if profiler.active else one_run()))
    assert len(set(results)) == 1  # the profiled runs returned what the unprofiled one did
    assert not profiler.active
    report = profiler.wait(timeout=1)
    assert report is not None and report.runs == 2 and report.backend == backend
    top = report.functions[0]
    assert top.function == "checksum" and top.location.endswith(
        f"test_profiling.py:{checksum.__code__.co_firstlineno}"
    )
    assert 0 < top.self_s <= top.cumulative_s and 0 < top.self_pct <= 100
    by_cumulative = profiler.report(top=50, sort="cumulative")
    assert by_cumulative is not None
    by_name = {f.function: f for f in by_cumulative.functions}
    assert by_name["one_run"].cumulative_s >= top.cumulative_s


async def test_concurrent_runs_are_profiled_one_at_a_time() -> None:
    profiler = Profiler()
    profiler.request(runs=1)
    await asyncio.gather(*(profiler.run(one_run) for _ in range(3)))
    report = profiler.report()
    assert report is not None and report.runs == 1


def test_tracemalloc_top_sites_and_bytes_per_workflow() -> None:
    was_tracing = tracemalloc.is_tracing()
    tracer = AllocationTracer()
    metrics = Metrics()
    tracer.start()
    try:
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        held = [bytearray(4096) for _ in range(500)]  # ~2 MB from this exact line
        sites = tracer.top(5)
        assert sites[0].location.endswith(f"test_profiling.py:{line}")
        assert sites[0].size_bytes >= 500 * 4096 and sites[0].count >= 500
        metrics.set_active(2)
        mem = per_workflow_memory(metrics, tracer)
        assert mem.method == "tracemalloc" and mem.active == 2
        assert mem.bytes_per_workflow is not None and mem.bytes_per_workflow >= 500 * 4096 / 2
        del held
    finally:
        tracer.stop()
    assert tracemalloc.is_tracing() == was_tracing
    rss = per_workflow_memory(metrics)
    assert rss.method == "rss-delta" and rss.current_bytes > 0


def test_phase_table_rows_add_up_and_format() -> None:
    m = Metrics()
    m.observe_run("ok", 0.1, {"llm": 0.048, "sources": 0.022, "graph": 0.030}, [], 3)
    rows = phase_table(m.snapshot())
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    assert rows[0].label == "LLM calls" and rows[0].per_run_ms == pytest.approx(48.0)
    assert format_phase_table(rows) == "LLM calls 48% · graph overhead 30% · sources 22%"
