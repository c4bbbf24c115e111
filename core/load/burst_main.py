"""Entry point of one burst process: ``python -m core.load.burst_main <burst-dir>/job.json``.

Started by ``BurstManager``; never imported by the caller. Writes into the burst's directory:

    status.json     {"state": starting|running|finished|cancelled|failed, "pid", "processes", ...}
    timeline.jsonl  one JSON object per second, appended as the run goes
    summary.json    the final (or, when cancelled, partial) summary, marked ``cancelled``

With ``processes`` > 1 (default: one per core) this process only coordinates: the load runs in
``core.load.shard_main`` processes whose seconds are merged here (``core.load.shards``); their
logs are ``processes/<i>.log``. One process runs the whole burst here (the zero-transport baseline).

SIGTERM stops issuing at once; requests in flight get a short bound to finish, the rest are
counted as cancelled, the partial summary is written, and the process exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import orjson

from core.config import Settings
from core.load.burst_target import cache_stats, live_settings_sync, open_target, settings_fields
from core.load.jobfiles import write_json
from core.load.spec import BurstSpec

_TERM_EARLY = False


def _early_term(signum: int, frame: Any) -> None:
    # SIGTERM before the loop is ready (indexes loading): remember it; we exit cleanly below.
    global _TERM_EARLY
    _TERM_EARLY = True


async def run_burst(job: dict[str, Any], folder: Path) -> int:
    spec = BurstSpec.model_validate(job["spec"])
    settings = Settings(**job.get("process_settings", {}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if _TERM_EARLY:
        stop.set()
    processes = spec.resolved_processes()
    if spec.mode == "closed" and spec.target != "http":
        processes = min(processes, spec.users)  # every process gets at least one user
    status: dict[str, Any] = {
        "id": job["id"],
        "pid": _pid(),
        "state": "starting",
        "started_at": time.time(),
        "processes": processes,
    }
    await asyncio.to_thread(write_json, folder / "status.json", status)
    writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="timeline")  # keeps lines in order
    timeline_fh = await asyncio.to_thread(open, folder / "timeline.jsonl", "ab")

    def write_entry(entry: dict[str, Any]) -> None:
        entry.pop("hdr", None)
        writer.submit(_append, timeline_fh, orjson.dumps(entry) + b"\n")

    async def running(details: dict[str, Any]) -> None:
        status.update(state="running", running_at=time.time(), detail=None, **details)
        await asyncio.to_thread(write_json, folder / "status.json", status)

    async def step(detail: str) -> None:
        """What start-up is doing now (the Load page shows it with its progress bar)."""
        if status["state"] == "starting":
            status["detail"] = detail
            await asyncio.to_thread(write_json, folder / "status.json", status)

    try:
        if processes > 1 and spec.target != "http":
            summary = await _run_sharded(job, folder, spec, processes, stop, write_entry, running, step)
        else:
            summary = await _run_here(spec, settings, folder, processes, stop, write_entry, running, step)
        state = "cancelled" if stop.is_set() else "finished"
        summary.update(state=state, cancelled_run=stop.is_set(), processes=summary.get("processes", 1))
        await asyncio.to_thread(write_json, folder / "summary.json", summary)
        status.update(state=state, finished_at=time.time())
        await asyncio.to_thread(write_json, folder / "status.json", status)
        return 0
    finally:
        writer.shutdown(wait=True)
        timeline_fh.close()


async def _run_sharded(
    job: dict[str, Any],
    folder: Path,
    spec: BurstSpec,
    processes: int,
    stop: asyncio.Event,
    write_entry: Any,
    running: Any,
    step: Any,
) -> dict[str, Any]:
    from core.load.shards import run_sharded

    async def on_running(readies: list[dict[str, Any]]) -> None:
        versions = [int(r["settings_version"]) for r in readies if r.get("settings_version")]
        workload = next((r["workload"] for r in readies if r.get("workload")), None)
        await running({"settings_version": max(versions) if versions else None, "workload": workload})

    cpu0 = time.process_time()
    summary, timeline = await run_sharded(
        folder / "job.json", folder, processes, stop, on_tick=write_entry, on_running=on_running, on_step=step
    )
    # the coordinator's own CPU (merging) belongs to the burst's cost too
    summary["cpu_s"] = round(float(summary.get("cpu_s") or 0.0) + time.process_time() - cpu0, 3)
    seen = sorted({v for e in timeline for v in [e.get("settings_version")] if v is not None})
    if seen:
        summary["settings_versions_seen"] = seen
    summary["target"] = spec.target
    return summary


async def _run_here(
    spec: BurstSpec,
    settings: Settings,
    folder: Path,
    processes: int,
    stop: asyncio.Event,
    write_entry: Any,
    running: Any,
    step: Any,
) -> dict[str, Any]:
    """The whole burst in this process (one process; or Locust, which forks its own)."""
    from core.load.runner import LoadRunner

    sync = live_settings_sync(spec, settings)
    await step(
        "loading the search indexes and opening the engine"
        if spec.target == "engine"
        else f"connecting to the {spec.target} target"
    )
    target, engine = await open_target(spec, settings, folder, sync, locust_processes=processes)

    def on_tick(entry: dict[str, Any]) -> None:
        if engine is not None:  # lets charts mark a live settings change
            entry["settings_version"] = engine.settings.version
        write_entry(entry)

    try:
        engine_settings = engine.settings if engine is not None else spec.engine_settings()
        await step("building the question pool")
        workload = await asyncio.to_thread(
            spec.workload,
            engine.c.sources if engine else None,
            settings.data_dir,
            settings.resolved_index_dir,
        )
        await running({"settings_version": engine_settings.version, "workload": workload.describe()})
        runner = LoadRunner(target, workload, spec, on_tick=on_tick, stop=stop)
        report = await runner.run() if not stop.is_set() else None
        summary: dict[str, Any] = (
            report.summary
            if report
            else {
                "issued": 0,
                "completed": 0,
                "errors": 0,
                "rejected": 0,
                "cancelled": 0,
                "stopped_early": True,
                "in_flight": 0,
            }
        )
        if engine is not None:
            summary["emulated"] = bool(summary.get("emulated")) or engine.settings.emulated
            summary["cache"] = cache_stats(engine)
        summary.update(settings_fields(spec, engine, report.timeline if report else []))
        summary["processes"] = processes if spec.target == "http" else 1
        return summary
    finally:
        await target.aclose()
        if sync is not None:
            await sync.aclose()
        if engine is not None:
            await engine.aclose()


def _append(fh: Any, line: bytes) -> None:
    fh.write(line)
    fh.flush()


def _pid() -> int:
    import os

    return os.getpid()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _early_term)
    job_path = Path(argv[0])
    folder = job_path.parent
    job = orjson.loads(job_path.read_bytes())
    try:
        if job.get("kind", "burst") == "experiment":
            from core.load.experiment_main import run_experiment_job

            return asyncio.run(run_experiment_job(job, folder, lambda: _TERM_EARLY))
        import uvloop  # a cheaper event loop for the load generator and the engine

        return uvloop.run(run_burst(job, folder))
    except BaseException as exc:  # record why, whatever it was, so the caller can show it
        with contextlib.suppress(Exception):
            write_json(
                folder / "status.json",
                {
                    "id": job.get("id"),
                    "pid": _pid(),
                    "state": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-4000:],
                    "finished_at": time.time(),
                },
            )
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
