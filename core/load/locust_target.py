"""The HTTP target: Locust users (headless, in their own subprocess) against a ResearchOps API.

Locust is never imported here (it monkeypatches the stdlib through gevent); this module only starts
``python -m locust -f core/load/locustfile.py --headless ...``, tails the per-request events file
the locustfile writes, and feeds each event to the recorder, so the timeline has the same shape
and exact percentiles as the in-process runner. Locust's own final totals (``--json-file``) are
returned beside ours (``locust_requests``, ``locust_failures``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

from core.errors import InvalidInput
from core.load.outcome import Outcome
from core.load.timeline import Recorder
from core.load.workload import Workload

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


class LocustTarget:
    """Drives ``users`` Locust users against ``url`` (e.g. ``http://127.0.0.1:8000``).

    >>> # report = await LoadRunner(LocustTarget("http://127.0.0.1:8000", work), workload, shape).run()
    """

    name = "http"
    emulated = False  # an HTTP server's emulation is not visible here; results carry their own flag

    def __init__(
        self,
        url: str,
        work_dir: Path,
        *,
        path: str = "/research",
        max_sources: int = 10,
        processes: int = 1,
        python: str = sys.executable,
    ) -> None:
        self.processes = processes
        """Locust processes (``--processes``: one master and this many forked workers) when > 1."""
        self.url, self.work_dir, self.path, self.max_sources, self.python = (
            url,
            work_dir,
            path,
            max_sources,
            python,
        )
        self.emulated_seen = False

    async def drive(
        self, shape: Any, workload: Workload, recorder: Recorder, stop: asyncio.Event
    ) -> dict[str, Any]:
        if shape.mode != "closed":
            raise InvalidInput(
                [{"field": "mode", "message": "the http (Locust) target supports the closed loop only"}]
            )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        events_path = self.work_dir / "locust-events.jsonl"
        events_path.write_bytes(b"")
        config = {
            "questions": workload.questions,
            "mix": workload.mix.model_dump(),
            "seed": workload.seed,
            "think": shape.think,
            "think_time_s": shape.think_time_s,
            "path": self.path,
            "max_sources": self.max_sources,
            "events_path": str(events_path),
        }
        config_path = self.work_dir / "locust-config.json"
        config_path.write_bytes(orjson.dumps(config))
        stats_json = self.work_dir / "locust-stats.json"
        spawn_rate = shape.users / shape.ramp_up_s if shape.ramp_up_s > 0 else shape.users
        cmd = [
            self.python,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--only-summary",
            "-u",
            str(shape.users),
            "-r",
            f"{spawn_rate:g}",
            "-t",
            f"{max(1, round(shape.duration_s))}s",
            "--stop-timeout",
            f"{max(1, round(shape.drain_s))}",
            "--host",
            self.url,
            "--csv",
            str(self.work_dir / "locust"),
            "--json-file",
            str(stats_json.with_suffix("")),
            "-L",
            "WARNING",
            "--exit-code-on-error",
            "0",
            *(["--processes", str(self.processes)] if self.processes > 1 else []),
        ]
        env = {
            **os.environ,
            "RESEARCHOPS_LOCUST_CONFIG": str(config_path),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        log = await asyncio.to_thread(open, self.work_dir / "locust.log", "wb")
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=str(REPO_ROOT),
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        recorder.gauges["users"] = shape.users
        offset = 0
        terminated = False
        try:
            while True:
                offset = await asyncio.to_thread(self._feed, events_path, offset, recorder)
                if proc.returncode is not None:
                    break
                if stop.is_set() and not terminated:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
                    terminated = True
                    recorder.phase = "drain"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 0.2)
            await asyncio.to_thread(self._feed, events_path, offset, recorder)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            log.close()
        return {"locust": self._totals(stats_json), "locust_exit_code": proc.returncode}

    def _feed(self, path: Path, offset: int, recorder: Recorder) -> int:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next read
        for line in data[:end].splitlines():
            ev = orjson.loads(line)
            recorder.record(
                Outcome(
                    ev["status"], ev["lat"], cached=ev["cached"], node_hit=ev["node_hit"], error=ev["err"]
                ),
                issued=False,
            )
        return offset + end

    @staticmethod
    def _totals(stats_json: Path) -> dict[str, int] | None:
        for candidate in (stats_json, stats_json.with_suffix("")):
            with contextlib.suppress(OSError, ValueError):
                stats = json.loads(candidate.read_text())
                return {
                    "requests": sum(int(s.get("num_requests", 0)) for s in stats),
                    "failures": sum(int(s.get("num_failures", 0)) for s in stats),
                }
        return None

    async def aclose(self) -> None:
        return None
