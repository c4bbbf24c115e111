"""A private ``redis-server`` for tests that break Redis (kill it, restart it on the same port).

Started on a free port with no persistence and its own directory; stopped by PID only, so the
shared Redis on 6379 is never touched.

    server = RedisServer.start(tmp_path)
    ...  # server.url
    server.kill(); server.restart(); server.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.env import in_ci, unavailable
from tests.support.ports import free_port

__all__ = ["RedisServer", "free_port", "in_ci", "private_redis", "redis_server_binary"]


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


@dataclass
class RedisServer:
    """One private redis-server process."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, workdir: Path, port: int | None = None, timeout_s: float = 10.0) -> RedisServer:
        server = cls(port=port or free_port(), workdir=workdir)
        server._spawn(timeout_s)
        return server

    def _spawn(self, timeout_s: float) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_ready(timeout_s)

    def ping(self) -> bool:
        try:
            client = redis.Redis(
                host="127.0.0.1", port=self.port, socket_timeout=0.2, socket_connect_timeout=0.2
            )
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Poll PING until it answers or the deadline passes (then raise with the exit status)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.proc.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        raise TimeoutError(f"redis-server on port {self.port} did not answer PING within {timeout_s}s")

    def kill(self) -> None:
        """Kill the process abruptly (SIGKILL, by PID) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self, timeout_s: float = 10.0) -> None:
        """Start again on the same port (after ``kill``)."""
        self.kill()
        deadline = time.monotonic() + timeout_s
        while True:  # the port may linger a moment after the kill
            try:
                self._spawn(timeout_s)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Terminate by PID (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def private_redis(workdir: Path) -> Iterator[RedisServer]:
    """Body of the ``redis_server`` fixture: a private server, stopped by PID afterwards."""
    if redis_server_binary() is None:
        unavailable("redis-server is not installed")
    server = RedisServer.start(workdir)
    try:
        yield server
    finally:
        server.stop()
