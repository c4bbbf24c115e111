"""The experiment job of a burst process (``core.load.burst_main`` dispatches ``kind=experiment`` here).

Writes, like a burst: ``status.json``, ``timeline.jsonl`` (one line per second per configuration;
``t`` counts lines across the whole job, ``config_t`` is the configuration's own second) and
``summary.json`` (per-configuration numbers, ratios, equivalence; ``cancelled_run`` when stopped),
plus the full report (JSON, Markdown, HTML, PNG charts) in ``report_dir`` or ``<burst>/report/``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from core.config import Settings
from core.load.jobfiles import write_json


async def run_experiment_job(job: dict[str, Any], folder: Path, term_early: Callable[[], bool]) -> int:
    from core.factory import build_components, open_engine
    from core.load.experiment import ExperimentSpec, run_experiment
    from core.load.report import write_report

    spec = ExperimentSpec.model_validate(job["spec"])
    settings = Settings(**job.get("process_settings", {}))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if term_early():
        stop.set()
    status: dict[str, Any] = {
        "id": job["id"],
        "pid": os.getpid(),
        "state": "starting",
        "started_at": time.time(),
    }
    await asyncio.to_thread(write_json, folder / "status.json", status)
    engine = await open_engine(
        lambda: build_components(settings, with_store=False, role="experiment"), spec.load.engine_settings()
    )
    writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="timeline")
    fh = await asyncio.to_thread(open, folder / "timeline.jsonl", "ab")
    seq = 0

    def on_tick(name: str, entry: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        line = orjson.dumps({**entry, "t": seq, "config_t": entry["t"]}) + b"\n"
        writer.submit(_append, fh, line)

    try:
        workload = await asyncio.to_thread(
            spec.load.workload, engine.c.sources, settings.data_dir, settings.resolved_index_dir
        )
        status.update(state="running", running_at=time.time(), workload=workload.describe())
        await asyncio.to_thread(write_json, folder / "status.json", status)
        result = await run_experiment(engine, spec, workload, on_tick=on_tick, stop=stop)
        data = result.to_dict()
        report_dir = Path(job.get("report_dir") or folder / "report")
        paths = await asyncio.to_thread(write_report, data, report_dir)
        state = "cancelled" if stop.is_set() else "finished"
        summary = {k: v for k, v in data.items() if k != "timelines"}
        summary.update(state=state, cancelled_run=stop.is_set(), report={k: str(v) for k, v in paths.items()})
        await asyncio.to_thread(write_json, folder / "summary.json", summary)
        status.update(state=state, finished_at=time.time())
        await asyncio.to_thread(write_json, folder / "status.json", status)
        return 0
    finally:
        writer.shutdown(wait=True)
        fh.close()
        await engine.aclose()


def _append(fh: Any, line: bytes) -> None:
    fh.write(line)
    fh.flush()
