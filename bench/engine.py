"""Engine figures (issue: the research workflow engine).

Prints: CPU ms per uncached query (offline model, no emulated latency) with ``agents`` =
``pydantic_ai`` and ``direct`` side by side, and whether their answers are identical; CPU µs per
L1 result-cache hit (without and with the event store, ``summary`` policy); index build time (cold,
into an empty dir) and load time (warm); throughput with 1 and 100 concurrent queries; and, with
emulated latency ON (labelled), the end-to-end p50 against the emulated critical path; and the time
spent in the garbage collector under CPython's default policy and the serving one.

    .venv/bin/python bench/engine.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import bench_settings, open_engine, pct, questions, row
from core.config import EngineSettings, LatencyProfile
from core.gc_policy import tune_for_serving
from core.sources.registry import build_sources

MODEL_MS, SOURCE_MS = 300.0, 100.0


async def index_times(tmp: Path) -> tuple[float, float]:
    cold_dir = tmp / "cold"
    s = bench_settings(tmp / "d1").model_copy(update={"index_dir": cold_dir})
    t0 = time.perf_counter()
    await build_sources(s)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    await build_sources(s)
    return cold, time.perf_counter() - t0


async def throughput(
    engine, qs: list[str], concurrency: int, stagger_s: float = 0.0
) -> tuple[float, list[float]]:
    """Closed loop: ``concurrency`` users drain ``qs``; user i starts after ``i * stagger_s / n``."""
    queue = list(qs)
    lat: list[float] = []

    async def user(i: int) -> None:
        await asyncio.sleep(i * stagger_s / concurrency)
        while queue:
            q = queue.pop()
            t0 = time.perf_counter()
            await engine.run(q)
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(user(i) for i in range(concurrency)))
    return len(qs) / (time.perf_counter() - t0), lat


def _ok(good: bool) -> str:
    return "ok" if good else "MISSED"


async def l1_hit_cpu(data_dir: Path, qs: list[str], *, store: bool, n: int = 5000) -> float:
    """CPU µs per whole-result hit served by L1 (the load generator's call: ``engine.run(str)``)."""
    s = bench_settings(data_dir, event_log="summary")
    engine = await open_engine(s, EngineSettings().updated(cache="l1"), store=store)
    for q in qs:
        await engine.run(q)
    for q in qs:  # warm: first hits
        await engine.run(q)
    cpu0 = time.process_time()
    for i in range(n):
        await engine.run(qs[i % len(qs)])
    us = (time.process_time() - cpu0) / n * 1e6
    await engine.aclose()
    return us


class GcClock:
    """Seconds spent in the collector (all generations) and the longest single pause."""

    def __init__(self) -> None:
        self.total = self.longest = 0.0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            took = time.perf_counter() - self._t0
            self.total += took
            self.longest = max(self.longest, took)


async def gc_policies(data_dir: Path, qs: list[str], per_batch: int) -> None:
    """Uncached runs on the default modes (L1 + L2), 40 at a time: CPython's default GC, then the
    serving policy (``core.gc_policy``) on the next, distinct questions of the same engine (which
    by then holds more objects: the comparison is against the policy, not for it)."""
    engine = await open_engine(bench_settings(data_dir), EngineSettings())
    sem = asyncio.Semaphore(40)

    async def one(q: str) -> None:
        async with sem:
            await engine.run(q)

    before = gc.get_threshold()
    try:
        for policy, batch in (("default", qs[:per_batch]), ("serving", qs[per_batch : 2 * per_batch])):
            if policy == "serving":
                tune_for_serving()
            clock = GcClock()
            gc.callbacks.append(clock)
            cpu0 = time.process_time()
            await asyncio.gather(*(one(q) for q in batch))
            cpu = (time.process_time() - cpu0) / len(batch) * 1000
            gc.callbacks.remove(clock)
            print(
                row(
                    f"GC {policy}: collector s per 1,000 runs / longest pause ms",
                    f"{clock.total / len(batch) * 1000:.2f} / {clock.longest * 1000:.0f}",
                )
            )
            print(row(f"  CPU per uncached query, L1+L2, 40 concurrent, GC {policy} (ms)", f"{cpu:.1f}"))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        await engine.aclose()


async def main(quick: bool) -> None:
    n = 60 if quick else 200
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        print(row("figure", "measured", "target", ""))
        if not quick:
            cold, warm = await index_times(tmp)
            print(row("index build, 3 sources in parallel, cold (s)", f"{cold:.1f}"))
            print(row("index load, 3 sources, warm (s)", f"{warm:.2f}"))

        uncached = EngineSettings().updated(cache="off")
        engine = await open_engine(bench_settings(tmp / "d2"), uncached)
        engine._bench_data_dir = tmp / "d2"  # type: ignore[attr-defined]
        gc_batch = 300 if quick else 1000
        pool = await questions(engine, 3 * n + 100 + 2 * gc_batch)
        qs, gc_qs = pool[: 3 * n + 100], pool[3 * n + 100 :]
        modes = ("pydantic_ai", "direct")
        cpus = dict.fromkeys(modes, 0.0)
        walls = dict.fromkeys(modes, 0.0)
        answers: dict[str, list[tuple[list[str], str, float]]] = {m: [] for m in modes}
        for mode in modes:
            engine.update_settings(agents=mode)
            await engine.run(qs[-1])  # warm-up: imports, first graph compile
        # interleaved, question by question: both modes see the same machine load
        for q in qs[:n]:
            for mode in modes:
                engine.update_settings(agents=mode)
                cpu0, t0 = time.process_time(), time.perf_counter()
                r = await engine.run(q)
                cpus[mode] += (time.process_time() - cpu0) / n * 1000
                walls[mode] += (time.perf_counter() - t0) / n * 1000
                answers[mode].append(([f.doc_id for f in r.findings], r.summary, r.confidence))
        for mode in modes:
            target, verdict = ("< 10 (goal 5)", _ok(cpus[mode] < 10)) if mode == "direct" else ("", "")
            print(row(f"CPU per uncached query, agents={mode} (ms)", f"{cpus[mode]:.1f}", target, verdict))
            print(row(f"  wall per uncached query, sequential, {mode} (ms)", f"{walls[mode]:.1f}"))
        engine.update_settings(agents=EngineSettings().agents)
        same = sum(a == b for a, b in zip(answers["direct"], answers["pydantic_ai"], strict=True))
        print(
            row("  framework tax: pydantic_ai / direct CPU", f"{cpus['pydantic_ai'] / cpus['direct']:.2f}x")
        )
        print(
            row(
                "  same answers, direct vs pydantic_ai (findings, summary)",
                f"{same}/{n}",
                "all",
                "ok" if same == n else "DIFFERENT",
            )
        )
        cpu = cpus[engine.settings.agents]
        for store in (False, True):
            hit_us = await l1_hit_cpu(tmp / f"hits-{store}", qs[:20], store=store)
            label = "event store on (summary policy)" if store else "no event store"
            print(row(f"CPU per L1 hit, {label} (µs)", f"{hit_us:.0f}", "< 50", _ok(hit_us < 50)))
        tp1, _ = await throughput(engine, qs[n : 2 * n], 1)
        tp100, lat = await throughput(engine, qs[2 * n : 3 * n], 100)
        print(row("throughput, 1 concurrent query (queries/s)", f"{tp1:.1f}"))
        print(
            row("throughput, 100 concurrent queries (queries/s)", f"{tp100:.1f}", "CPU-bound: ~1/CPU-per-q")
        )
        print(
            row(
                "  p50 / p99 latency at 100 concurrent (ms)",
                f"{pct(lat, 50) * 1000:.0f} / {pct(lat, 99) * 1000:.0f}",
            )
        )

        # Emulated latency (labelled): constant latencies make the critical path exact:
        # three sequential model calls plus one (parallel) source round.
        emulated = uncached.updated(
            model_latency=LatencyProfile(median_ms=MODEL_MS, sigma=0),
            source_latency=LatencyProfile(median_ms=SOURCE_MS, sigma=0),
            max_concurrent=1000,
        )
        engine.update_settings(**emulated.modes())  # agents: the default (direct)
        critical = (3 * MODEL_MS + SOURCE_MS) / 1000
        print(row("EMULATED: critical path 3x300 ms model + 100 ms source (ms)", f"{critical * 1000:.0f}"))
        for conc in (1, 10, 40, 100):
            # at high concurrency the offered CPU load (conc / critical x CPU per query) exceeds one
            # interpreter: the excess is queueing for the CPU, shown here rather than hidden
            # users arrive spread over one critical path, as real ones do: in lockstep their CPU
            # phases would collide on every step and measure the collision, not the engine
            _, lat = await throughput(engine, qs[: max(conc * 3, 20)], conc, stagger_s=critical)
            p50 = pct(lat, 50)
            overhead = (p50 - critical) / critical * 100
            load = conc / critical * cpu / 1000
            print(
                row(
                    f"EMULATED: p50 at {conc} concurrent, CPU load {load:.2f} core (ms)",
                    f"{p50 * 1000:.0f} (+{overhead:.1f}%)",
                    "overhead < 10%",
                    "ok" if overhead < 10 else "MISSED (CPU-bound)" if load > 0.8 else "MISSED",
                )
            )
        await engine.aclose()
        await gc_policies(tmp / "gc", gc_qs, gc_batch)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer queries, no cold index build")
    asyncio.run(main(ap.parse_args().quick))
