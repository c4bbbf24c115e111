"""Live-mode figures, side by side, from one run (each figure a median of several repeats).

    .venv/bin/python bench/modes.py [--quick]

1. codecs: round-trip µs and bytes of the real workflow state, speedup vs stdlib json
2. validation: µs per state (its source documents) per validation mode
3. whole-result cache hits through ``engine.run``: L1 and L2 p50/p99
4. backend calls (source searches + model calls) avoided by the cache on a repeated-question mix
5. parallel vs sequential source search, emulated source latency (labelled)
6. peak RSS of 1,000 concurrent workflows, copy vs reference state (each in its own subprocess)
7. throughput optimized vs naive, 200 concurrent users, emulated model latency (labelled)

Targets printed beside: default codec >= 6x faster than json; L1 hit p99 < 1 ms; optimized >= 10x naive.
The measuring functions are shared with ``bench/claims.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench._common import bench_settings, pct, row
from core.components import Components
from core.config import EngineSettings, LatencyProfile, Settings, preset
from core.engine import Engine
from core.factory import build_components
from core.metrics import Metrics
from core.models import ResearchQuery
from core.runctx import RunContext, current_run

EMULATED = "(emulated latency)"
DEFAULT_CODEC = EngineSettings().codec


# ---- helpers -------------------------------------------------------------------------------------
class Counting:
    """Delegates to ``inner``, counting calls of its coroutine methods (``counts[name]``)."""

    def __init__(self, inner: Any, counts: Counter[str], prefix: str) -> None:
        self._inner, self._counts, self._prefix = inner, counts, prefix

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def counted(*a: Any, **kw: Any) -> Any:
            self._counts[f"{self._prefix}.{name}"] += 1
            return await attr(*a, **kw)

        return counted


async def open_engine(
    settings: Settings, engine_settings: EngineSettings, counts: Counter[str] | None = None
) -> Engine:
    async def build() -> Components:
        c = await build_components(settings, metrics=Metrics(), with_store=False)
        if counts is not None:
            c.sources = {n: Counting(s, counts, "source") for n, s in c.sources.items()}
            c.agents = Counting(c.agents, counts, "model")
        return c

    return await Engine.open(build, engine_settings)


async def pool(engine: Engine, data_dir: Path, n: int) -> list[str]:
    from core.load.workload import corpus_pool

    return (await asyncio.to_thread(corpus_pool, engine.c.sources, data_dir))[:n]


async def real_state(engine: Engine, question: str) -> dict[str, Any]:
    """The full LangGraph state of one real run (query, hits from every source, findings, summary)."""
    query = ResearchQuery(question=question)
    settings = engine.settings.updated(cache="off")
    token = current_run.set(RunContext(run_id="bench", settings=settings))
    try:
        graph = engine.graph(settings)  # the engine's own compiled graph
        return dict(await graph.ainvoke({"query": query.model_dump(mode="json")}))
    finally:
        current_run.reset(token)


# ---- 1-2: codecs and validation -------------------------------------------------------------------
def codec_figures(state: dict[str, Any], repeats: int) -> list[dict[str, Any]]:
    from core.load.microbench import codec_rows

    runs = [codec_rows(state, number=100, repeat=5) for _ in range(repeats)]
    out = []
    for i, r in enumerate(runs[0]):
        out.append(
            {
                **r,
                "round_trip_us": statistics.median(x[i]["round_trip_us"] for x in runs),
                "speedup_vs_json": statistics.median(x[i]["speedup_vs_json"] for x in runs),
            }
        )
    return out


def validation_figures(state: dict[str, Any]) -> list[dict[str, Any]]:
    from core.load.microbench import validation_rows

    return validation_rows(state.get("hits", []), number=30, repeat=5)


# ---- 3: whole-result cache hits -------------------------------------------------------------------
async def hit_latency(engine: Engine, question: str, n: int = 400) -> dict[str, dict[str, float]]:
    """p50/p99 ms of ``engine.run`` answered from L1, and from L2 (L1 cleared before each run)."""
    engine.apply_settings(engine.settings.updated(cache="l1+l2"))
    await engine.run(question)  # fill
    out: dict[str, dict[str, float]] = {}
    cache = engine.c.cache
    assert cache is not None
    for level in ("l1", "l2"):
        lat = []
        for _ in range(n if level == "l1" else n // 2):
            if level == "l2":
                cache.l1.clear()
            t0 = time.perf_counter()
            result = await engine.run(question)
            lat.append(time.perf_counter() - t0)
            assert result.cached and result.timings[0].node == f"result_cache[{level}]", result.timings[0]
        out[level] = {"p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000}
    return out


# ---- 4: backend calls avoided ---------------------------------------------------------------------
async def backend_calls(
    settings: Settings, data_dir: Path, requests: int = 400, distinct: int = 100, concurrency: int = 8
) -> dict[str, Any]:
    """Source searches and model calls for the same Zipf(1.1) mix with the cache off and on."""
    from core.load.workload import Workload, parse_mix

    out: dict[str, Any] = {}
    for mode in ("off", "l1+l2"):
        counts: Counter[str] = Counter()
        engine = await open_engine(settings, preset("optimized", cache=mode), counts)
        try:
            if mode == "l1+l2":
                await engine.purge_cache()
            qs = Workload(
                await pool(engine, data_dir, distinct), parse_mix(f"zipf:1.1:{distinct}"), 7
            ).sampler()
            seq = qs.take(requests)
            counts.clear()
            for i in range(0, requests, concurrency):
                await asyncio.gather(*(engine.run(q) for q in seq[i : i + concurrency]))
        finally:
            await engine.aclose()
        src = sum(v for k, v in counts.items() if k.startswith("source."))
        mdl = sum(v for k, v in counts.items() if k.startswith("model."))
        out[mode] = {"source_calls": src, "model_calls": mdl, "backend_calls": src + mdl}
    off, on = out["off"]["backend_calls"], out["l1+l2"]["backend_calls"]
    out["avoided"] = 1 - on / off if off else None
    out["source_avoided"] = 1 - out["l1+l2"]["source_calls"] / max(out["off"]["source_calls"], 1)
    out["requests"], out["distinct"] = requests, distinct
    return out


# ---- 5: parallel vs sequential --------------------------------------------------------------------
async def parallel_vs_sequential(
    settings: Settings, data_dir: Path, n: int = 12, source_ms: float = 100.0, repeats: int = 3
) -> dict[str, Any]:
    """Mean search-phase and end-to-end ms per run; every source emulates ``source_ms`` (sigma 0)."""
    latency = LatencyProfile(median_ms=source_ms, sigma=0.0)
    engine = await open_engine(settings, preset("optimized", cache="off", source_latency=latency))
    try:
        qs = await pool(engine, data_dir, n)
        res: dict[str, dict[str, list[float]]] = {
            m: {"sources": [], "total": []} for m in ("parallel", "sequential")
        }
        for _ in range(repeats):
            for mode in ("sequential", "parallel"):
                engine.apply_settings(engine.settings.updated(execution=mode))
                for q in qs:
                    r = await engine.run(q)
                    res[mode]["sources"].append(r.phases.get("sources", 0.0) * 1000)
                    res[mode]["total"].append(r.processing_time_s * 1000)
        out: dict[str, Any] = {m: {k: statistics.median(v) for k, v in d.items()} for m, d in res.items()}
        out["speedup_sources"] = out["sequential"]["sources"] / out["parallel"]["sources"]
        out["speedup_total"] = out["sequential"]["total"] / out["parallel"]["total"]
        out["sources"] = len(engine.c.sources)
        return out
    finally:
        await engine.aclose()


# ---- 6: memory of 1,000 concurrent workflows (subprocess) ---------------------------------------------
async def _rss_child(data_dir: Path, modes: dict[str, Any], n: int) -> dict[str, Any]:
    settings = bench_settings(data_dir)
    latency = LatencyProfile(median_ms=2000, sigma=0.0)  # long enough that all n are in flight at once
    es = preset("optimized", cache="off", max_concurrent=n, model_latency=latency, **modes)
    engine = await open_engine(settings, es)
    qs = await pool(engine, data_dir, n)
    await engine.run(qs[-1])  # warm-up: graph compile, imports
    gc.collect()
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    await asyncio.gather(*(engine.run(q) for q in qs))
    done.set()
    t.join()
    await engine.aclose()
    return {"baseline_mb": base / 2**20, "peak_mb": peak / 2**20, "delta_mb": (peak - base) / 2**20}


def rss_in_subprocess(data_dir: Path, modes: dict[str, Any], n: int = 1000) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            json.dumps(modes),
            "--n",
            str(n),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"rss child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_figures(
    tmp: Path, configs: dict[str, dict[str, Any]], n: int, repeats: int
) -> dict[str, dict[str, float]]:
    res: dict[str, list[dict[str, Any]]] = {k: [] for k in configs}
    for i in range(repeats):
        for name, modes in configs.items():  # interleaved, each in a fresh process
            res[name].append(rss_in_subprocess(tmp / f"rss-{name}-{i}", modes, n))
    return {
        k: {m: statistics.median(r[m] for r in v) for m in ("baseline_mb", "peak_mb", "delta_mb")}
        for k, v in res.items()
    }


# ---- 7: optimized vs naive throughput -------------------------------------------------------------
async def naive_vs_optimized(
    settings: Settings,
    data_dir: Path,
    users: int = 200,
    duration_s: float = 20.0,
    rounds: int = 2,
    model_ms: float = 300.0,
    warmup_s: float = 0.0,
    optimized: str = "optimized",
) -> dict[str, Any]:
    """Throughput per configuration (interleaved turns, cold cache each turn) and per-round ratios."""
    from core.load.experiment import ExperimentSpec, run_experiment
    from core.load.spec import build_spec

    load = build_spec(
        users=users,
        duration_s=duration_s * rounds,
        think_time_s=0.0,
        mix="zipf:1.1:1000",
        model_ms=model_ms,
        drain_s=5,
    )
    spec = ExperimentSpec.from_names(
        ["naive", optimized], load, schedule="interleaved", rounds=rounds, warmup_s=warmup_s
    )
    engine = await open_engine(settings, load.engine_settings())
    try:
        wl = load.workload(engine.c.sources, data_dir)
        result = await run_experiment(engine, spec, wl, n_boot=200)
    finally:
        await engine.aclose()
    naive, opt = result.runs
    per_round = [
        o.summary["throughput"] / n.summary["throughput"]
        for n, o in zip(naive.reports, opt.reports, strict=True)
    ]
    return {
        "naive": result.per_config["naive"],
        "optimized": result.per_config[optimized],
        "ratio": result.ratios[optimized]["throughput"],
        "ratio_per_round": per_round,
        "ratio_median": statistics.median(per_round),
        "equivalence": result.equivalence[optimized],
    }


# ---- main ------------------------------------------------------------------------------------------
def print_table(title: str, rows: list[dict[str, Any]], cols: list[str]) -> None:
    print(f"\n{title}")
    print("  " + "  ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print("  " + "  ".join(f"{_f(r.get(c)):>16}" for c in cols))


def _f(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
    return str(x)


async def main(quick: bool) -> None:
    repeats = 2 if quick else 3
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        settings = bench_settings(tmp / "d")
        engine = await open_engine(settings, EngineSettings())
        qs = await pool(engine, tmp / "d", 50)
        state = await real_state(engine, qs[0])
        codecs = codec_figures(state, repeats)
        print_table(
            f"1. codecs on the real workflow state ({len(state.get('hits', []))} source documents)",
            codecs,
            ["codec", "round_trip_us", "bytes", "speedup_vs_json"],
        )
        default = next(r for r in codecs if r["codec"] == DEFAULT_CODEC)
        print(
            row(
                f"   default codec ({DEFAULT_CODEC}) vs json",
                f"{default['speedup_vs_json']:.1f}x",
                ">= 6x",
                "OK" if default["speedup_vs_json"] >= 6 else "MISSED",
            )
        )
        print_table(
            "2. validation of one state's source documents (µs)",
            validation_figures(state),
            ["mode", "documents", "us_per_batch", "us_per_document"],
        )
        hits = await hit_latency(engine, qs[1], 200 if quick else 500)
        await engine.aclose()
        print("\n3. whole-result cache hits through engine.run (ms)")
        for lvl, v in hits.items():
            print(
                row(
                    f"   {lvl} hit p50 / p99",
                    f"{v['p50_ms']:.3f} / {v['p99_ms']:.3f}",
                    "p99 < 1 ms" if lvl == "l1" else "",
                    ("OK" if v["p99_ms"] < 1 else "MISSED") if lvl == "l1" else "",
                )
            )
        calls = await backend_calls(settings, tmp / "d", 200 if quick else 400)
        print(
            f"\n4. backend calls, {calls['requests']} requests, Zipf 1.1 over {calls['distinct']} questions"
        )
        for mode in ("off", "l1+l2"):
            c = calls[mode]
            print(row(f"   cache {mode}: source / model calls", f"{c['source_calls']} / {c['model_calls']}"))
        print(row("   backend calls avoided by the cache", f"{calls['avoided']:.1%}"))
        pvs = await parallel_vs_sequential(settings, tmp / "d", 8 if quick else 12, repeats=repeats)
        print(f"\n5. source search, {pvs['sources']} sources x 100 ms each {EMULATED}")
        for mode in ("sequential", "parallel"):
            print(
                row(
                    f"   {mode}: sources phase / run (ms)",
                    f"{pvs[mode]['sources']:.0f} / {pvs[mode]['total']:.0f}",
                )
            )
        print(
            row(
                "   parallel speedup, sources phase / whole run",
                f"{pvs['speedup_sources']:.2f}x / {pvs['speedup_total']:.2f}x",
            )
        )
        n = 300 if quick else 1000
        rss = rss_figures(
            tmp,
            {"copy": {"state_handling": "copy"}, "reference": {"state_handling": "reference"}},
            n,
            1 if quick else 2,
        )
        print(f"\n6. RSS with {n} concurrent workflows (subprocess each; model latency 2 s {EMULATED})")
        for k, v in rss.items():
            print(
                row(
                    f"   {k}: baseline / peak / increase (MB)",
                    f"{v['baseline_mb']:.0f} / {v['peak_mb']:.0f} / {v['delta_mb']:.0f}",
                )
            )
        print(
            row(
                "   reference saves (of the increase)",
                f"{1 - rss['reference']['delta_mb'] / rss['copy']['delta_mb']:.1%}",
            )
        )
        print(
            f"\n7. throughput, 200 users, no think, Zipf 1.1 over 1000, model 300 ms {EMULATED};"
            " cache purged before each turn"
        )
        for warm in (0.0, 10.0):
            tp = await naive_vs_optimized(settings, tmp / "d", 200, 8.0 if quick else 15.0, 2, warmup_s=warm)
            label = "cold start" if not warm else f"after {warm:g} s warm-up"
            for k in ("naive", "optimized"):
                m = tp[k]
                print(
                    row(
                        f"   [{label}] {k}: completed/s, p50 / p95 ms",
                        f"{m['throughput']:.1f}, {m['p50_ms']:.0f} / {m['p95_ms']:.0f}",
                    )
                )
            print(
                row(
                    f"   [{label}] optimized / naive (median of rounds)",
                    f"{tp['ratio_median']:.1f}x",
                    ">= 10x",
                    "OK" if tp["ratio_median"] >= 10 else "MISSED",
                )
            )
            eq = tp["equivalence"]
            print(row(f"   [{label}] same answers (doc_ids + summary)", f"{eq['equal']}/{eq['compared']}"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        print(json.dumps(asyncio.run(_rss_child(Path(args.data_dir), json.loads(args.rss_child), args.n))))
    else:
        asyncio.run(main(args.quick))
