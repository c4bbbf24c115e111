"""Child process for the SIGKILL test: runs one workflow with emulated model latency (labelled
emulated in its result) so the parent can kill it mid-run.

usage: python -m tests.durable.crash_child DATA_DIR INDEX_DIR DATABASE_URL|- SCHEMA RUN_ID
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.config import EngineSettings, LatencyProfile, Settings
from core.factory import build_components, open_engine
from core.metrics import Metrics

QUESTION = "How do I run coroutines concurrently and wait for all of them?"


async def main(data_dir: str, index_dir: str, url: str, schema: str, run_id: str) -> None:
    settings = Settings(
        data_dir=Path(data_dir),
        index_dir=Path(index_dir),
        metrics_port=None,
        database_url=None if url == "-" else url,
    )
    # emulated model latency: each model call takes 700 ms, so the run is mid-flight for seconds
    es = EngineSettings(cache="off", model_latency=LatencyProfile(median_ms=700, sigma=0))
    engine = await open_engine(lambda: build_components(settings, metrics=Metrics(), schema=schema), es)
    try:
        await engine.run(QUESTION, run_id=run_id)
    finally:
        await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
