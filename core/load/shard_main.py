"""One process of a multi-process burst: ``python -m core.load.shard_main <job.json> <index> <count>``.

Started by ``core.load.shards`` (never imported by it). Runs its share of the burst
(``BurstSpec.share``) against its own target and talks to the coordinator over pipes, one JSON
object per line on stdout:

    {"ready": {...}}      target open, workload loaded; then waits for ``go <unix time>`` on stdin
    {"tick": entry}       one per second, with the second's latencies as an encoded HdrHistogram
    {"summary": {...}}    at the end (partial when stopped), with the run's HdrHistogram

SIGTERM (or EOF on stdin before ``go``) stops it the way it stops a single-process burst.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from core.config import Settings
from core.load.burst_target import cache_stats, live_settings_sync, open_target, settings_fields
from core.load.spec import BurstSpec

_TERM_EARLY = False


def _early_term(signum: int, frame: Any) -> None:
    global _TERM_EARLY
    _TERM_EARLY = True


def _emit(kind: str, data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps({kind: data}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    sys.stdout.buffer.flush()


async def run_share(job: dict[str, Any], index: int, count: int) -> int:
    from core.load.runner import LoadRunner

    whole = BurstSpec.model_validate(job["spec"])
    settings = Settings(**job.get("process_settings", {}))
    spec = whole.share(index, count)  # the even split (the workload may re-split it by question)
    folder = Path(job["folder"]) if job.get("folder") else Path(".")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if _TERM_EARLY:
        stop.set()
    sync = live_settings_sync(spec, settings)
    target, engine = await open_target(spec, settings, folder / "processes" / str(index), sync)
    try:
        whole_workload = await asyncio.to_thread(
            whole.workload,
            engine.c.sources if engine else None,
            settings.data_dir,
            settings.resolved_index_dir,
        )
        workload = whole_workload
        if whole.routing == "question":
            _owner, shares = await asyncio.to_thread(whole_workload.shares, count)
            spec = whole.share(index, count, shares.tolist())
            workload = whole_workload.part(index, count)
        workload.seed = spec.seed
        engine_settings = engine.settings if engine is not None else spec.engine_settings()
        described = whole_workload.describe()
        _emit("ready", {"settings_version": engine_settings.version, "workload": described})
        line = await asyncio.to_thread(sys.stdin.readline)
        if line.startswith("go "):
            delay = float(line.split()[1]) - time.time()
            if delay > 0:
                # every process starts its first second together: entry t means the same second
                await asyncio.wait({asyncio.ensure_future(stop.wait())}, timeout=delay)
        else:
            stop.set()  # the coordinator went away or gave up

        def on_tick(entry: dict[str, Any]) -> None:
            if engine is not None:
                entry["settings_version"] = engine.settings.version
            _emit("tick", entry)

        runner = LoadRunner(target, workload, spec, on_tick=on_tick, stop=stop, hdr=True)
        report = await runner.run() if not stop.is_set() else None
        summary: dict[str, Any] = (
            report.summary
            if report
            else {"issued": 0, "completed": 0, "errors": 0, "rejected": 0, "cancelled": 0, "in_flight": 0}
        )
        if engine is not None:
            summary["emulated"] = bool(summary.get("emulated")) or engine.settings.emulated
            summary["cache"] = cache_stats(engine)
        summary.update(settings_fields(spec, engine, report.timeline if report else []))
        summary["workload"] = {**described, "part": len(workload.questions), "routing": whole.routing}
        summary["stopped_early"] = stop.is_set()
        _emit("summary", summary)
        return 0
    finally:
        await target.aclose()
        if sync is not None:
            await sync.aclose()
        if engine is not None:
            await engine.aclose()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _early_term)
    job = orjson.loads(Path(argv[0]).read_bytes())
    job.setdefault("folder", str(Path(argv[0]).parent))
    import uvloop  # a cheaper event loop for the load generator and the engine

    return uvloop.run(run_share(job, int(argv[1]), int(argv[2])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
