"""Per-run checkpoint overhead: the same uncached run with and without the SQLite checkpointer.

.venv/bin/python bench/checkpoints.py [N]   (prints median ms per run)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Settings, preset
from core.engine import Engine
from core.factory import build_components
from core.metrics import Metrics
from tests.conftest import SHARED_INDEX

QUESTION = "How do I run coroutines concurrently and wait for all of them?"


async def measure(checkpoints: bool, name: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(data_dir=Path(tmp), index_dir=SHARED_INDEX, metrics_port=None, checkpoints=checkpoints)
        # cache off so every run executes all nodes (and writes every checkpoint)
        engine = await Engine.open(lambda: build_components(s, metrics=Metrics()), preset(name, cache="off"))
        try:
            for _ in range(3):
                await engine.run(QUESTION)
            times = []
            for _ in range(n):
                t = time.perf_counter()
                await engine.run(QUESTION)
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times)
        finally:
            await engine.aclose()


async def main(n: int) -> None:
    for name in ("optimized", "naive"):
        off, on = await measure(False, name, n), await measure(True, name, n)
        print(f"{name:9s} checkpoints off {off:7.2f} ms  on {on:7.2f} ms  overhead {on - off:+.2f} ms/run")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 40))
