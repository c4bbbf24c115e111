"""Writer process for the multi-process test: ``python -m tests.store.sqlite_writer DB PREFIX N_RUNS``.

Appends N_RUNS runs of 20 events, each run in 4 batches from its own task, all concurrently.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.store import SQLiteRunStore
from tests.store.runfactory import make_run


async def main(db: Path, prefix: str, n_runs: int) -> None:
    async with SQLiteRunStore(db) as store:

        async def write(run_id: str) -> None:
            events = make_run(run_id)
            for k in range(0, len(events), 5):
                await store.append(events[k : k + 5])

        await asyncio.gather(*(write(f"{prefix}{i:02d}") for i in range(n_runs)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
