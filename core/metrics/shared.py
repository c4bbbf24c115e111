"""Every process's metrics in one directory: each process writes its own file, one reader lists them.

The embedded default for a one-machine deployment (dashboard, burst and experiment processes, API,
workers sharing a data dir), with no server to install. ``FileExporter`` (started by
``Metrics.for_process(metrics_dir=...)``) writes ``<dir>/<host>-<pid>.json`` = this process's own
registry samples, every ``interval_s`` on a daemon thread, and once more at exit marked
``exited``. ``ProcessFiles`` reads them back (a file is re-parsed only when it changed).

Plain files rather than prometheus_client's mmap multiprocess mode: nothing changes on the hot path
(an mmap write per increment), no process-global value class has to be switched before the first
metric exists (it would leak into every later registry of the process, tests included), and
host-qualified names cannot collide when containers with their own pid 1 share a volume. Each
process's ``/metrics`` still serves only its own values, so a Prometheus scraping every process
never double-counts.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
from prometheus_client import CollectorRegistry

SampleKey = tuple[str, tuple[tuple[str, str], ...]]
"""(sample name, sorted label pairs)."""
_KEEP = ("researchops_", "process_resident_memory_bytes", "process_cpu_seconds_total")
HOST = socket.gethostname().replace("_", "-") or "localhost"


def registry_samples(registry: CollectorRegistry) -> list[list[Any]]:
    """``[[name, {labels}, value], ...]`` of the ResearchOps series (and RSS, CPU) in ``registry``."""
    out: list[list[Any]] = []
    for family in registry.collect():
        for s in family.samples:
            if s.name.startswith(_KEEP) and not s.name.endswith("_created"):
                out.append([s.name, s.labels, s.value])
    return out


class FileExporter:
    """Writes this process's samples to ``<dir>/<host>-<pid>.json`` every ``interval_s`` seconds.

    >>> # FileExporter(Path(".data/metrics"), registry).start()
    """

    def __init__(
        self, directory: Path, registry: CollectorRegistry, interval_s: float = 0.5, role: str | None = None
    ) -> None:
        self.directory = Path(directory)
        self.role = role
        """What this process is (``dashboard``, ``burst``...), when its entry point says; else the
        reader guesses it from the command line."""
        self.registry = registry
        self.interval_s = interval_s
        self.path = self.directory / f"{HOST}-{os.getpid()}.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.time()
        self._cmd = " ".join(sys.argv)[:300]

    def start(self) -> FileExporter:
        if self._thread is None:
            self.write()  # visible at once, not one interval later
            self._thread = threading.Thread(target=self._loop, name="metrics-export", daemon=True)
            self._thread.start()
            atexit.register(self.close)
        return self

    def write(self, *, exited: bool = False) -> None:
        """One snapshot now (atomic replace); I/O errors are ignored: metrics never stop work."""
        body = {
            "pid": os.getpid(),
            "host": HOST,
            "cmd": self._cmd,
            "role": self.role,
            "started_at": self._started,
            "written_at": time.time(),
            "exited": exited,
            "samples": registry_samples(self.registry),
        }
        tmp = self.path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(orjson.dumps(body))
            os.replace(tmp, self.path)

    def close(self) -> None:
        """Stop the thread and write the final values, marked ``exited``."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.write(exited=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.write()


@dataclass
class ProcessFile:
    """One process's last written metrics."""

    key: str
    """``<host>-<pid>``: the file's stem."""
    pid: int
    host: str
    cmd: str
    started_at: float
    written_at: float
    exited: bool
    samples: dict[SampleKey, float] = field(default_factory=dict)
    alive: bool = True
    declared_role: str | None = None
    """The role its entry point declared (``FileExporter(role=...)``), if any."""

    @property
    def role(self) -> str:
        """dashboard, burst, experiment, worker, api or the program's name, read off its command line."""
        if self.declared_role:
            return self.declared_role
        c = self.cmd
        if "experiment" in c:
            return "experiment"
        if "burst_main" in c or "shard_main" in c or "core/load/" in c or "core.load" in c:
            return "burst"
        if "streamlit" in c or "dashboard" in c:
            return "dashboard"
        for role in ("worker", "api", "serve", "load", "bench"):
            if f" {role}" in c or f"/{role}" in c:
                return "api" if role == "serve" else role
        return Path(c.split(" ")[0]).name or "process"

    @property
    def label(self) -> str:
        """e.g. ``burst 4242`` or ``dashboard 17 (exited)``."""
        return f"{self.role} {self.pid}" + ("" if self.alive else " (exited)")

    def value(self, name: str, **labels: str) -> float:
        """Sum of ``name`` over every series whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))


class ProcessFiles:
    """Reads the directory's process files; unchanged files are served from a cache.

    A process counts as alive while its pid runs on this host (not a zombie) and it has not written
    ``exited``; on another host (a shared volume), while its file is younger than ``stale_s``.
    """

    def __init__(
        self,
        directory: Path,
        stale_s: float = 10.0,
        own: CollectorRegistry | None = None,
        own_role: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.stale_s = stale_s
        self.own = own
        """This process's registry: its own entry is read live from it, not from its (<= 0.5 s old) file."""
        self.own_role = own_role
        """What this process is, when it exports to another directory or not at all."""
        self._own_key = f"{HOST}-{os.getpid()}"
        self._cache: dict[str, tuple[int, ProcessFile]] = {}

    def read(self) -> list[ProcessFile]:
        """Every process file, oldest process first."""
        try:
            entries = [e for e in os.scandir(self.directory) if e.name.endswith(".json")]
        except OSError:
            return []
        out, seen = [], set()
        for e in entries:
            seen.add(e.name)
            try:
                mtime = e.stat().st_mtime_ns
            except OSError:
                continue
            cached = self._cache.get(e.name)
            if cached is not None and cached[0] == mtime:
                pf = cached[1]
            else:
                parsed = _parse(Path(e.path))
                if parsed is None:
                    continue
                pf = parsed
                self._cache[e.name] = (mtime, pf)
            pf.alive = self._alive(pf)
            out.append(pf)
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        if self.own is not None:
            mine = next((p for p in out if p.key == self._own_key), None)
            out = [p for p in out if p is not mine]
            out.append(self._live_own(mine))
        return sorted(out, key=lambda p: (p.started_at, p.pid))

    def _live_own(self, written: ProcessFile | None) -> ProcessFile:
        assert self.own is not None
        samples = {(n, tuple(sorted(ls.items()))): float(v) for n, ls, v in registry_samples(self.own)}
        now = time.time()
        return ProcessFile(
            key=self._own_key, pid=os.getpid(), host=HOST,
            cmd=written.cmd if written else " ".join(sys.argv)[:300],
            started_at=written.started_at if written else now, written_at=now, exited=False, samples=samples,
            declared_role=(written.declared_role if written else None) or self.own_role,
        )  # fmt: skip

    def _alive(self, pf: ProcessFile) -> bool:
        if pf.exited:
            return False
        if pf.host != HOST:
            return time.time() - pf.written_at < self.stale_s
        try:
            p = psutil.Process(pf.pid)
            return p.status() != psutil.STATUS_ZOMBIE and p.create_time() <= pf.started_at + 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def clean_stale(self, before: float) -> int:
        """Delete files of processes that are gone and last wrote before ``before`` (unix time):
        a dashboard starting over its data dir drops what earlier sessions left. Returns how many."""
        n = 0
        for pf in self.read():
            if not pf.alive and pf.written_at < before:
                with contextlib.suppress(OSError):
                    (self.directory / f"{pf.key}.json").unlink()
                    n += 1
        return n


def _parse(path: Path) -> ProcessFile | None:
    try:
        body = orjson.loads(path.read_bytes())
        samples = {(s[0], tuple(sorted(s[1].items()))): float(s[2]) for s in body["samples"]}
        return ProcessFile(
            key=path.stem,
            pid=int(body["pid"]),
            host=str(body.get("host", "")),
            cmd=str(body.get("cmd", "")),
            started_at=float(body.get("started_at", 0.0)),
            written_at=float(body.get("written_at", 0.0)),
            exited=bool(body.get("exited", False)),
            samples=samples,
            declared_role=body.get("role") or None,
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError):
        return None  # a file being replaced or from another version: skip this round
