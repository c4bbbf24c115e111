"""A private, real Prometheus server for tests: free port, temporary TSDB, stopped by PID.

    with PrometheusServer(targets=["127.0.0.1:9464"]) as prom:
        prom.url  # http://127.0.0.1:<port>

``require_prometheus()`` returns the binary's path, or fails (CI=true) / skips (otherwise) when it is
missing. Each server is this test's own, so fault tests may kill it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from tests.support.ports import free_port

PROMETHEUS_BIN = "/usr/bin/prometheus"


def require_prometheus() -> str:
    """Path of the prometheus binary; when it is missing fail under CI=true, else skip."""
    path = PROMETHEUS_BIN if os.access(PROMETHEUS_BIN, os.X_OK) else shutil.which("prometheus")
    if path:
        return path
    message = f"prometheus binary not found at {PROMETHEUS_BIN} or on PATH"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


class PrometheusServer:
    """``/usr/bin/prometheus`` scraping ``targets`` every ``scrape_interval``, for one test."""

    def __init__(
        self, targets: list[str], scrape_interval: str = "1s", ready_timeout_s: float = 30.0
    ) -> None:
        self.targets = targets
        self.scrape_interval = scrape_interval
        self.ready_timeout_s = ready_timeout_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> PrometheusServer:
        binary = require_prometheus()
        self._tmp = tempfile.TemporaryDirectory(prefix="researchops-prom-")
        root = Path(self._tmp.name)
        targets = ", ".join(f'"{t}"' for t in self.targets)
        (root / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {self.scrape_interval}\n  scrape_timeout: {self.scrape_interval}\n"
            f"scrape_configs:\n  - job_name: researchops\n    static_configs:\n      - targets: [{targets}]\n"
        )
        self.port = free_port()
        self._log = open(root / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={root / 'prometheus.yml'}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # poll interval, not a wait for an outcome
        self.stop()
        raise TimeoutError(f"prometheus not ready within {self.ready_timeout_s}s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "prometheus.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL by PID (a crash, for fault tests) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after 10 s; then remove the temporary TSDB."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
