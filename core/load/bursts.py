"""Bursts run in their own process: start, poll, cancel and list them.

``BurstManager`` never runs load on the caller's interpreter: ``start`` writes the job file and
spawns ``python -m core.load.burst_main <job>``; the caller (the dashboard, the CLI) then polls
small files under ``<data_dir>/bursts/<id>/`` (see ``core.load.burst_main``). Every burst stays
stored there: ``job.json`` (spec + process settings), ``timeline.jsonl``, ``summary.json``.

    manager = BurstManager(settings.data_dir, BurstCaps(max_users=500), process_settings=settings)
    burst_id = manager.start(BurstSpec(users=20, duration_s=30, think_time_s=0.5))
    manager.timeline(burst_id, since=0)   # [{"t": 1, "throughput": ..., "p95_ms": ...}, ...]
    manager.cancel(burst_id)              # SIGTERM; SIGKILL after a bound; partial summary kept
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from core.config import Settings
from core.errors import InvalidInput, RunNotFound
from core.load.jobfiles import read_json, read_jsonl, write_json
from core.load.spec import BurstCaps, BurstSpec
from core.models import new_id

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FINAL_STATES = frozenset({"finished", "cancelled", "failed", "killed"})
# Never written to a job file: secrets stay in the caller's process.
_SECRET_FIELDS = {"operator_password_hash", "operator_token"}
_LISTED_SPEC = ("mode", "users", "rate", "duration_s", "target", "processes", "emulate_model")
_LISTED_SUMMARY = ("completed", "errors", "rejected", "throughput", "p50_ms", "p95_ms", "p99_ms",
                   "hit_rate", "elapsed_s", "peak_rss_mb", "coalesced")  # fmt: skip


class BurstManager:
    """Starts burst processes and reads what they write. Methods are blocking but cheap (small files)."""

    def __init__(
        self,
        data_dir: Path,
        caps: BurstCaps | None = None,
        *,
        process_settings: Settings | None = None,
        python: str = sys.executable,
        nice: int = 0,
    ) -> None:
        self.root = Path(data_dir) / "bursts"
        self.caps = caps or BurstCaps()
        self.process_settings = process_settings or Settings(data_dir=Path(data_dir))
        self.python = python
        self.nice = nice
        """Added to each burst process's niceness (the dashboard passes 5: the operator's live
        panels stay responsive while a burst saturates the cores; the burst's children inherit it)."""
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # ---- start ----------------------------------------------------------------------------------
    def start(self, spec: BurstSpec) -> str:
        """Check the caps, store the spec and spawn the burst process; returns the burst id.

        >>> # burst_id = manager.start(BurstSpec(users=10, duration_s=5))
        """
        self.caps.check(spec)
        # bad overrides, question files and mixes fail here, in the caller, with a clear message
        spec.engine_settings()
        if spec.questions or spec.questions_file:
            spec.workload(None, self.process_settings.data_dir)
        return self._spawn("burst", {"spec": spec.model_dump(mode="json")}, spec.label)

    def start_experiment(self, spec: Any, report_dir: Path | None = None) -> str:
        """Start an experiment (``core.load.experiment.ExperimentSpec``) in its own process.

        The caps apply to its load, and to its total duration (duration x configurations).

        >>> # burst_id = manager.start_experiment(ExperimentSpec.from_names(["naive", "optimized"], load))
        """
        self.caps.check(spec.load)
        total = spec.load.duration_s * len(spec.configs)
        if total > self.caps.max_duration_s:
            raise InvalidInput(
                [
                    {
                        "field": "duration_s",
                        "message": f"{len(spec.configs)} configurations x "
                        f"{spec.load.duration_s:g} s = {total:g} s is over the operator limit of "
                        f"{self.caps.max_duration_s:g} s (max_duration_s)",
                    }
                ]
            )
        for config in spec.configs:
            spec.settings_for(config)
        payload = {
            "spec": spec.model_dump(mode="json"),
            "report_dir": str(report_dir) if report_dir else None,
        }
        return self._spawn("experiment", payload, spec.label)

    def _spawn(self, kind: str, payload: dict[str, Any], label: str) -> str:
        burst_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{new_id()[:6]}"
        folder = self.root / burst_id
        folder.mkdir(parents=True)
        settings = self.process_settings.model_dump(mode="json", exclude=_SECRET_FIELDS)
        job = {
            "id": burst_id,
            "kind": kind,
            "label": label,
            "created_at": time.time(),
            "process_settings": settings,
            **payload,
        }
        write_json(folder / "job.json", job)
        write_json(folder / "status.json", {"id": burst_id, "state": "starting", "created_at": time.time()})
        log = open(folder / "process.log", "wb")
        try:
            proc = subprocess.Popen(
                [self.python, "-m", "core.load.burst_main", str(folder / "job.json")],
                cwd=str(REPO_ROOT),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: cancel can end its children too
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
                },
            )
        finally:
            log.close()
        self._procs[burst_id] = proc
        if self.nice:
            with contextlib.suppress(psutil.Error, OSError):
                p = psutil.Process(proc.pid)
                p.nice(p.nice() + self.nice)
        write_json(folder / "pid.json", {"pid": proc.pid})
        return burst_id

    # ---- read -----------------------------------------------------------------------------------
    def _folder(self, burst_id: str) -> Path:
        folder = self.root / burst_id
        if not burst_id or "/" in burst_id or ".." in burst_id or not (folder / "job.json").exists():
            raise RunNotFound(f"no burst {burst_id!r}")
        return folder

    def _pid(self, folder: Path) -> int | None:
        data = read_json(folder / "pid.json")
        return int(data["pid"]) if data else None

    def _alive(self, burst_id: str, folder: Path) -> bool:
        proc = self._procs.get(burst_id)
        if proc is not None:
            if proc.poll() is None:
                return True
            self._procs.pop(burst_id, None)  # poll() has reaped it: no <defunct> child left behind
            return False
        pid = self._pid(folder)
        if pid is None:
            return False
        try:
            p = psutil.Process(pid)
            return (
                p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE
                and "burst_main" in " ".join(p.cmdline())
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def status(self, burst_id: str) -> dict[str, Any]:
        """``{"id", "state", "pid", "label", "created_at", ...}``; a process that died without saying
        so is ``failed``. Times are unix seconds: ``created_at`` (launched), ``started_at`` (the
        process began), ``running_at`` (load began), ``finished_at``."""
        self.reap()
        folder = self._folder(burst_id)
        status = read_json(folder / "status.json") or {"id": burst_id, "state": "starting"}
        job = read_json(folder / "job.json") or {}
        status.setdefault("pid", self._pid(folder))
        status["label"] = job.get("label", "")
        status["kind"] = job.get("kind", "burst")
        # the burst process rewrites status.json without the launch time: it lives in job.json
        if status.get("created_at") is None:
            status["created_at"] = job.get("created_at")
        if status.get("state") not in FINAL_STATES and not self._alive(burst_id, folder):
            # it may have written its final status between our read and the liveness check
            again = read_json(folder / "status.json") or {}
            if again.get("state") in FINAL_STATES:
                return {**status, **again}
            status["state"] = "failed"
            status.setdefault("error", "the burst process exited without a summary; see process.log")
            status["log_tail"] = _tail(folder / "process.log")
        return status

    def reap(self) -> int:
        """Collect every burst process that has exited (so none is left ``<defunct>``); returns how many."""
        # list(): several dashboard sessions call this from their own threads
        done = [bid for bid, proc in list(self._procs.items()) if proc.poll() is not None]
        for bid in done:
            self._procs.pop(bid, None)
        return len(done)

    def timeline(self, burst_id: str, since: int = 0) -> list[dict[str, Any]]:
        """Timeline entries with ``t > since`` (poll with the last ``t`` you have)."""
        return read_jsonl(self._folder(burst_id) / "timeline.jsonl", since)

    def summary(self, burst_id: str) -> dict[str, Any] | None:
        """The final (or partial, if cancelled) summary; None while running."""
        return read_json(self._folder(burst_id) / "summary.json")

    def spec(self, burst_id: str) -> dict[str, Any]:
        return (read_json(self._folder(burst_id) / "job.json") or {}).get("spec", {})

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored bursts, newest first: each one's status plus what it asked for (``users``,
        ``target``, ``mode``, ``processes``, ``duration_s``) and, once it ended, its headline
        figures (``completed``, ``throughput``, ``p95_ms``...)."""
        if not self.root.exists():
            return []
        out: list[dict[str, Any]] = []
        for folder in sorted(self.root.iterdir(), reverse=True):
            if limit is not None and len(out) >= limit:
                break
            if not (folder / "job.json").exists():
                continue
            status = self.status(folder.name)
            spec = self.spec(folder.name)
            load = spec.get("load", spec)  # an experiment's load shape sits under "load"
            for k in _LISTED_SPEC:
                if k in load:
                    status.setdefault(k, load[k])
            if status["state"] in FINAL_STATES:
                summary = self.summary(folder.name) or {}
                for k in _LISTED_SUMMARY:
                    if k in summary:
                        status.setdefault(k, summary[k])
            out.append(status)
        return out

    def wait(self, burst_id: str, timeout_s: float = 60.0, poll_s: float = 0.1) -> dict[str, Any]:
        """Block until the burst reaches a final state (or the timeout); returns its status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.status(burst_id)
            if status["state"] in FINAL_STATES or time.monotonic() >= deadline:
                if status["state"] in FINAL_STATES:
                    self._reap(burst_id)
                return status
            time.sleep(poll_s)

    # ---- cancel ---------------------------------------------------------------------------------
    def cancel(self, burst_id: str, grace_s: float = 10.0) -> dict[str, Any]:
        """SIGTERM the burst; SIGKILL its process group if it has not exited after ``grace_s``.

        The process writes its partial summary itself; if it had to be killed, the summary is
        rebuilt here from the stored timeline and marked ``killed``.
        """
        folder = self._folder(burst_id)
        status = self.status(burst_id)
        if status["state"] in FINAL_STATES:
            return status
        pid = status.get("pid") or self._pid(folder)
        if pid is None:
            raise InvalidInput([{"field": "burst_id", "message": "the burst process has no pid yet"}])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self._alive(burst_id, folder):
            time.sleep(0.05)
        if self._alive(burst_id, folder):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._reap(burst_id, timeout=5)
            if read_json(folder / "summary.json") is None:
                write_json(folder / "summary.json", summary_from_timeline(self.timeline(burst_id), "killed"))
            write_json(folder / "status.json", {**status, "state": "killed", "finished_at": time.time()})
        self._reap(burst_id)
        return self.status(burst_id)

    def _reap(self, burst_id: str, timeout: float = 5.0) -> None:
        proc = self._procs.pop(burst_id, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)


def summary_from_timeline(timeline: list[dict[str, Any]], state: str) -> dict[str, Any]:
    """Totals rebuilt from the per-second entries (no exact run percentiles: those died with the process).

    >>> entry = {"issued": 3, "completed": 2, "errors": 0, "rejected": 1, "in_flight": 0}
    >>> summary_from_timeline([entry], "killed")["issued"]
    3
    """
    total = {
        k: sum(int(e.get(k, 0)) for e in timeline) for k in ("issued", "completed", "errors", "rejected")
    }
    in_flight = int(timeline[-1].get("in_flight", 0)) if timeline else 0
    # requests the killed process never finished are counted as cancelled errors, as in the runner
    total["errors"] += in_flight
    return {
        **total,
        "cancelled": in_flight,
        "state": state,
        "cancelled_run": True,
        "peak_rss_mb": max((e.get("rss_mb") or 0 for e in timeline), default=None),
        "note": "rebuilt from the timeline after the process was killed; percentiles unavailable",
    }


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""
