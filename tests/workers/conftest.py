"""Worker processes for tests: a private Redis, then real ``python -m core.cli.worker`` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_server import RedisServer
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProc:
    worker_id: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.worker_id} exited {self.proc.returncode}:\n{self.text()}")
            return ": ready (" in self.text()

        wait_until(ready, timeout_s, f"worker {self.worker_id} to be ready")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log_file.close()

    log_file: Any = None


@pytest.fixture
def start_worker(
    tmp_path: Path, index_dir: Path, redis_server: RedisServer
) -> Iterator[Callable[..., WorkerProc]]:
    """``start_worker("w1", concurrency=1, idle_timeout=3)``: a worker process, killed by PID at the end."""
    started: list[WorkerProc] = []
    env = {
        **os.environ,
        "RESEARCHOPS_REDIS_URL": redis_server.url,
        "RESEARCHOPS_DATA_DIR": str(tmp_path / "data"),
        "RESEARCHOPS_INDEX_DIR": str(index_dir),
        "RESEARCHOPS_SOURCES": json.dumps(["docs"]),
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("REDIS_URL", "DATABASE_URL", "RESEARCHOPS_DATABASE_URL", "RESEARCHOPS_METRICS_PORT"):
        env.pop(key, None)

    def start(
        worker_id: str, *, concurrency: int = 1, idle_timeout: float = 3.0, shutdown_timeout: float = 30.0
    ) -> WorkerProc:
        log = tmp_path / f"{worker_id}.log"
        log_file = log.open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli.worker",
                "--concurrency",
                str(concurrency),
                "--worker-id",
                worker_id,
                "--idle-timeout",
                str(idle_timeout),
                "--shutdown-timeout",
                str(shutdown_timeout),
            ],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProc(worker_id, proc, log)
        worker.log_file = log_file
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
