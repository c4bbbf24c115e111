"""A burst over several processes: start them, start them together, merge their seconds as they come.

The burst process (``core.load.burst_main``) becomes a coordinator: it starts ``count`` processes of
``core.load.shard_main`` (each with its share of users and rate and its own target), waits until
every one is ready, tells them all to start at the same instant, and merges entry ``t`` of every
process into entry ``t`` of the burst's timeline once each process has sent it (or has ended).
Counts add up exactly; percentiles come from merged HdrHistograms (``core.load.merge``).

    summary = await run_sharded(job_path, folder, 2, stop, on_tick=write_line, on_running=mark)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from core.load.merge import merge_entries, merge_summaries

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
START_DELAY_S = 0.3
"""Between "go" and the common first instant: every process reads its go line before it."""


class _Proc:
    def __init__(self, index: int, proc: asyncio.subprocess.Process) -> None:
        self.index, self.proc = index, proc
        self.ready: dict[str, Any] | None = None
        self.ticks: dict[int, dict[str, Any]] = {}
        self.summary: dict[str, Any] | None = None
        self.ended = False
        self.ready_event = asyncio.Event()


class Coordinator:
    """Runs one multi-process burst; see the module docstring."""

    def __init__(
        self,
        job_path: Path,
        folder: Path,
        count: int,
        stop: asyncio.Event,
        *,
        on_tick: Callable[[dict[str, Any]], None],
        on_running: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
        on_step: Callable[[str], Awaitable[None]] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.job_path, self.folder, self.count, self.stop = job_path, folder, count, stop
        self.on_tick, self.on_running, self.python = on_tick, on_running, python
        self.on_step = on_step
        """Told what start-up is doing (processes ready so far), for the Load page's progress."""
        self.procs: list[_Proc] = []
        self.timeline: list[dict[str, Any]] = []
        self._next_t = 1

    async def run(self) -> dict[str, Any]:
        logs = self.folder / "processes"
        logs.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        for index in range(self.count):
            with open(logs / f"{index}.log", "wb") as log:  # noqa: ASYNC230 (a tiny, local file)
                proc = await asyncio.create_subprocess_exec(
                    self.python,
                    "-m",
                    "core.load.shard_main",
                    str(self.job_path),
                    str(index),
                    str(self.count),
                    cwd=str(REPO_ROOT),
                    env=env,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                    limit=2**24,
                )
            self.procs.append(_Proc(index, proc))
        readers = [asyncio.create_task(self._read(p)) for p in self.procs]
        await self._step()
        forward = asyncio.create_task(self._forward_stop())
        try:
            await self._start_together()
            await asyncio.gather(*readers)
            self._emit()
        finally:
            forward.cancel()
            for r in readers:
                r.cancel()
            await asyncio.gather(forward, *readers, return_exceptions=True)
            for p in self.procs:
                if p.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        p.proc.kill()
                    await p.proc.wait()
        return self._summary()

    # ---- internals --------------------------------------------------------------------------
    async def _start_together(self) -> None:
        all_ready = asyncio.ensure_future(asyncio.gather(*(p.ready_event.wait() for p in self.procs)))
        stop_wait = asyncio.ensure_future(self.stop.wait())
        try:
            waits: set[asyncio.Future[Any]] = {stop_wait, all_ready}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            all_ready.cancel()
        at = time.time() + START_DELAY_S
        line = b"stop\n" if self.stop.is_set() else f"go {at:.6f}\n".encode()
        for p in self.procs:
            stdin = p.proc.stdin
            if stdin is not None and not p.ended:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    stdin.write(line)
                    await stdin.drain()
                    stdin.close()
        if self.on_running is not None and not self.stop.is_set():
            await self.on_running([p.ready or {} for p in self.procs])

    async def _forward_stop(self) -> None:
        await self.stop.wait()
        for p in self.procs:
            if p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.send_signal(signal.SIGTERM)

    async def _read(self, p: _Proc) -> None:
        assert p.proc.stdout is not None
        try:
            async for line in p.proc.stdout:
                if not line.startswith(b"{"):
                    continue
                msg = orjson.loads(line)
                if "tick" in msg:
                    p.ticks[int(msg["tick"]["t"])] = msg["tick"]
                    self._emit()
                elif "ready" in msg:
                    p.ready = msg["ready"]
                    p.ready_event.set()
                    await self._step()
                elif "summary" in msg:
                    p.summary = msg["summary"]
        finally:
            await p.proc.wait()
            p.ended = True
            p.ready_event.set()  # a process that died before it was ready must not hold the others
            self._emit()

    async def _step(self) -> None:
        ready = sum(p.ready is not None for p in self.procs)
        if self.on_step is not None and ready < self.count:
            await self.on_step(
                f"{ready} of {self.count} load processes ready (each loads the search indexes and "
                "opens its engine)"
            )

    def _emit(self) -> None:
        """Write every second that every process has sent (or that no live process will send)."""
        while True:
            t = self._next_t
            if not all(t in p.ticks or p.ended or p.summary is not None for p in self.procs):
                return
            entries = [p.ticks.pop(t) for p in self.procs if t in p.ticks]
            if not entries:
                return
            merged = merge_entries(entries)
            self.timeline.append(merged)
            self.on_tick(merged)
            self._next_t += 1

    def _summary(self) -> dict[str, Any]:
        summaries, failed = [], []
        for p in self.procs:
            if p.summary is not None:
                summaries.append(p.summary)
            else:
                failed.append(p.index)
        if not summaries:
            raise RuntimeError(f"no process of the burst finished (see {self.folder / 'processes'}/*.log)")
        out = merge_summaries(summaries)
        out["pids"] = [p.proc.pid for p in self.procs]
        if failed:
            out["failed_processes"] = failed
        return out


async def run_sharded(
    job_path: Path,
    folder: Path,
    count: int,
    stop: asyncio.Event,
    *,
    on_tick: Callable[[dict[str, Any]], None],
    on_running: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
    on_step: Callable[[str], Awaitable[None]] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the burst in ``job_path`` as ``count`` processes; (merged summary, merged timeline)."""
    c = Coordinator(job_path, folder, count, stop, on_tick=on_tick, on_running=on_running, on_step=on_step)
    summary = await c.run()
    return summary, c.timeline
