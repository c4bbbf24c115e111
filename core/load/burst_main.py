"""Entry point of one burst process: ``python -m core.load.burst_main <burst-dir>/job.json``.

Started by ``BurstManager``; never imported by the caller. Writes into the burst's directory:

    status.json     {"state": starting|running|finished|cancelled|failed, "pid", ...} (atomic)
    timeline.jsonl  one JSON object per second, appended as the run goes
    summary.json    the final (or, when cancelled, partial) summary, marked ``cancelled``

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
from core.load.jobfiles import write_json
from core.load.spec import BurstSpec

_TERM_EARLY = False


def _early_term(signum: int, frame: Any) -> None:
    # SIGTERM before the loop is ready (indexes loading): remember it; we exit cleanly below.
    global _TERM_EARLY
    _TERM_EARLY = True


async def _open_target(spec: BurstSpec, settings: Settings, folder: Path, sync: Any) -> tuple[Any, Any]:
    """(target, engine or None)."""
    if spec.target == "http":
        from core.load.locust_target import LocustTarget

        assert spec.http_url is not None
        return LocustTarget(
            spec.http_url, folder / "locust", path=spec.http_path, max_sources=spec.max_sources
        ), None
    from core.factory import build_components, open_engine
    from core.load.targets import EngineTarget

    engine_settings = await sync.seed(spec.engine_settings()) if sync is not None else spec.engine_settings()
    engine = await open_engine(lambda: build_components(settings, with_store=False), engine_settings)
    if sync is not None:
        sync.start(engine)
    return EngineTarget(engine, max_sources=spec.max_sources), engine


async def run_burst(job: dict[str, Any], folder: Path) -> int:
    from core.load.runner import LoadRunner

    spec = BurstSpec.model_validate(job["spec"])
    settings = Settings(**job.get("process_settings", {}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if _TERM_EARLY:
        stop.set()
    status: dict[str, Any] = {"id": job["id"], "pid": _pid(), "state": "starting", "started_at": time.time()}
    await asyncio.to_thread(write_json, folder / "status.json", status)
    sync = _live_settings_sync(spec, settings)
    target, engine = await _open_target(spec, settings, folder, sync)
    writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="timeline")  # keeps lines in order
    timeline_fh = await asyncio.to_thread(open, folder / "timeline.jsonl", "ab")

    def on_tick(entry: dict[str, Any]) -> None:
        if engine is not None:  # lets charts mark a live settings change
            entry["settings_version"] = engine.settings.version
        line = orjson.dumps(entry) + b"\n"
        writer.submit(_append, timeline_fh, line)

    try:
        engine_settings = engine.settings if engine is not None else spec.engine_settings()
        workload = await asyncio.to_thread(
            spec.workload,
            engine.c.sources if engine else None,
            settings.data_dir,
            settings.resolved_index_dir,
        )
        status.update(
            state="running",
            running_at=time.time(),
            settings_version=engine_settings.version,
            workload=workload.describe(),
        )
        await asyncio.to_thread(write_json, folder / "status.json", status)
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
        final = engine.settings if engine is not None else engine_settings
        if engine is not None:
            summary["emulated"] = bool(summary.get("emulated")) or final.emulated
            summary["cache"] = _cache_stats(engine)
        seen = sorted(
            {e["settings_version"] for e in (report.timeline if report else []) if "settings_version" in e}
        )
        state = "cancelled" if stop.is_set() else "finished"
        summary.update(
            state=state,
            cancelled_run=stop.is_set(),
            settings=final.model_dump(mode="json"),
            settings_version=final.version,
            settings_versions_seen=seen or [final.version],
            base_settings_version=spec.settings.version if spec.settings else None,
        )
        await asyncio.to_thread(write_json, folder / "summary.json", summary)
        status.update(state=state, finished_at=time.time())
        await asyncio.to_thread(write_json, folder / "status.json", status)
        return 0
    finally:
        writer.shutdown(wait=True)
        timeline_fh.close()
        await target.aclose()
        if sync is not None:
            await sync.aclose()
        if engine is not None:
            await engine.aclose()


def _live_settings_sync(spec: BurstSpec, settings: Settings) -> Any:
    """With Redis, a burst on the live settings (no preset, overrides or emulation of its own) starts
    on the shared settings and follows operator changes as they happen, like every other engine."""
    if (
        spec.target != "engine"
        or not settings.redis_url
        or spec.preset
        or spec.overrides
        or spec.emulate_model
    ):
        return None
    from core.settings_sync import SettingsSync

    return SettingsSync.from_url(settings.redis_url)


def _append(fh: Any, line: bytes) -> None:
    fh.write(line)
    fh.flush()


def _cache_stats(engine: Any) -> dict[str, Any] | None:
    if engine.c.cache is None:
        return None
    stats = engine.c.cache.stats()
    return {lvl: {k: v for k, v in stats[lvl].items() if isinstance(v, int | float)} for lvl in ("l1", "l2")}


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
        return asyncio.run(run_burst(job, folder))
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
