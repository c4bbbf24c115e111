"""Cost of instrumentation (issue: metrics): CPU per query with metrics on against off, measured
in one run with the two engines interleaved, and the time to take an in-process snapshot.

    .venv/bin/python bench/metrics.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bench_settings, questions, row
from core.config import EngineSettings
from core.engine import Engine
from core.factory import build_components
from core.metrics import Metrics, NullMetrics

ROUNDS, PER_ROUND = 7, 40


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        uncached = EngineSettings().updated(cache="off")
        on = await Engine.open(
            lambda: build_components(bench_settings(tmp / "on"), metrics=Metrics(), with_store=False),
            uncached,
        )
        off = await Engine.open(
            lambda: build_components(bench_settings(tmp / "off"), metrics=NullMetrics(), with_store=False),
            uncached,
        )
        on._bench_data_dir = tmp / "on"  # type: ignore[attr-defined]
        qs = await questions(on, PER_ROUND)
        for e in (on, off):
            await e.run(qs[0])
        cpu: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(ROUNDS):  # interleaved rounds: machine noise hits both sides alike
            for name, engine in (("on", on), ("off", off)):
                t0 = time.process_time()
                for q in qs:
                    await engine.run(q)
                cpu[name].append((time.process_time() - t0) / len(qs) * 1000)
        m_on, m_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
        cost = (m_on - m_off) / m_off * 100
        print(row("figure", "measured", "target"))
        print(row("CPU per query, metrics off (ms, median of rounds)", f"{m_off:.2f}"))
        print(row("CPU per query, metrics on (ms, median of rounds)", f"{m_on:.2f}"))
        print(row("instrumentation cost (%)", f"{cost:+.1f}", "< 5%", "ok" if cost < 5 else "MISSED"))

        metrics = Metrics(nodes=["parse_query", "search_sources", "analyze_findings", "generate_summary"])
        for i in range(10_000):
            metrics.observe_run(
                "ok",
                0.01 + i % 97 / 1000,
                {"llm": 0.006, "graph": 0.004},
                [
                    ("parse_query", 0.002),
                    ("search_sources", 0.001),
                    ("analyze_findings", 0.004),
                    ("generate_summary", 0.003),
                ],
                1,
            )
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            metrics.snapshot()
            times.append((time.perf_counter() - t0) * 1000)
        print(
            row("in-process snapshot, 10,000 samples per node (ms, p50)", f"{statistics.median(times):.2f}")
        )
        t0 = time.perf_counter()
        n = 20_000
        for _ in range(n):
            metrics.observe_run("ok", 0.02, {"llm": 0.01, "graph": 0.01}, [("parse_query", 0.002)] * 4, 1)
        print(
            row("observe_run, 4 nodes + 2 phases (us per run)", f"{(time.perf_counter() - t0) / n * 1e6:.1f}")
        )
        await on.aclose()
        await off.aclose()


if __name__ == "__main__":
    asyncio.run(main())
