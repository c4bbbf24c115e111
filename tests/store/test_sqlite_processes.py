"""SQLite specifics: several OS processes writing one store file."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.models import RunStatus
from core.store import SQLiteRunStore
from tests.store.runfactory import make_run

REPO = Path(__file__).resolve().parents[2]


async def test_two_processes_append_to_one_file_without_loss(tmp_path: Path) -> None:
    """Two processes, each 25 runs x 20 events from many tasks, plus this process reading."""
    db = tmp_path / "shared.sqlite3"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store.sqlite_writer",
            str(db),
            prefix,
            "25",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        for prefix in ("pa", "pb")
    ]
    outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), timeout=60)
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err.decode()

    async with SQLiteRunStore(db) as store:
        assert await store.count() == 50
        for prefix in ("pa", "pb"):
            for i in range(25):
                run_id = f"{prefix}{i:02d}"
                got = await store.events(run_id)
                assert [(e.seq, e.type) for e in got] == [(e.seq, e.type) for e in make_run(run_id)]
                summary = await store.get_summary(run_id)
                assert (summary.n_events, summary.status) == (20, RunStatus.OK)
