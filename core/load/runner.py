"""The load runner: closed-loop users or open-loop arrivals against a target, second by second.

Closed loop: ``users`` simulated users start evenly over ``ramp_up_s``; each asks a question,
waits for the answer, thinks (constant or exponential with mean ``think_time_s``), and asks again
until ``duration_s``. Open loop: questions arrive at ``rate`` per second (or by ``rate_steps``)
whether or not earlier ones have finished — the way to show overload (rejections, growing latency).

    shape = LoadShape(users=50, duration_s=30, think_time_s=1.0)
    report = await LoadRunner(EngineTarget(engine), workload, shape).run()
    report.summary["throughput"], report.timeline[-1]["p95_ms"]

How requests still in flight at the deadline are counted: see ``core.load.timeline``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.load.outcome import Outcome
from core.load.targets import DrivingTarget, Target
from core.load.timeline import Recorder
from core.load.workload import Workload


class RateStep(BaseModel):
    """From ``at_s`` seconds on, arrivals come at ``rate`` per second."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at_s: float = Field(ge=0)
    rate: float = Field(ge=0, le=1_000_000)


class LoadShape(BaseModel):
    """How load is generated (the target- and settings-free part of a burst spec)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["closed", "open"] = "closed"
    """closed: N users who wait for answers; open: arrivals at a rate, regardless of answers."""
    users: int = Field(10, ge=1, le=1_000_000)
    """Simulated users (closed loop)."""
    ramp_up_s: float = Field(0.0, ge=0, le=3600)
    """Users start evenly over this many seconds (closed loop)."""
    duration_s: float = Field(10.0, gt=0, le=86_400)
    """Issuing stops after this many seconds."""
    think_time_s: float = Field(0.0, ge=0, le=3600)
    """Pause between a user's answer and next question (mean, if exponential)."""
    think: Literal["constant", "exponential"] = "constant"
    rate: float = Field(10.0, ge=0, le=1_000_000)
    """Arrivals per second (open loop) when there are no rate_steps."""
    rate_steps: tuple[RateStep, ...] = ()
    """Stepped arrival rate (open loop), e.g. 50/s then 500/s at 10 s to show overload."""
    arrivals: Literal["poisson", "uniform"] = "poisson"
    """Open-loop spacing: exponential gaps (Poisson process) or even gaps."""
    drain_s: float = Field(10.0, ge=0, le=600)
    """After the deadline, wait this long at most for requests in flight; the rest are cancelled."""
    seed: int = 0
    """Seeds the question sequence and think times / arrival gaps."""

    @model_validator(mode="after")
    def _steps_sorted(self) -> LoadShape:
        if list(self.rate_steps) != sorted(self.rate_steps, key=lambda s: s.at_s):
            raise ValueError("rate_steps must be sorted by at_s")
        return self

    def rate_at(self, t: float) -> float:
        rate = self.rate
        for step in self.rate_steps:
            if step.at_s <= t:
                rate = step.rate
        return rate


@dataclass
class LoadReport:
    """A finished run: its timeline, summary and (if kept) every outcome."""

    timeline: list[dict[str, Any]]
    summary: dict[str, Any]
    outcomes: list[Outcome] = field(default_factory=list)


class LoadRunner:
    """Runs one ``LoadShape`` of a ``Workload`` against a target.

    ``stop`` (an asyncio.Event) ends the run early: issuing stops at once, requests in flight get
    ``cancel_drain_s`` to finish, the rest are cancelled; the summary says ``stopped_early``.
    ``hdr=True`` adds encoded HdrHistograms to entries and summary (for merging across processes).
    """

    def __init__(
        self,
        target: Target | DrivingTarget,
        workload: Workload,
        shape: LoadShape,
        *,
        on_tick: Callable[[dict[str, Any]], None] | None = None,
        stop: asyncio.Event | None = None,
        keep_outcomes: bool = False,
        cancel_drain_s: float = 2.0,
        hdr: bool = False,
    ) -> None:
        self.target, self.workload, self.shape = target, workload, shape
        self.stop = stop or asyncio.Event()
        self.cancel_drain_s = cancel_drain_s
        self.recorder = Recorder(on_tick=on_tick, keep=keep_outcomes, hdr=hdr)
        coalesced = getattr(target, "coalesced", None)
        if callable(coalesced):
            self.recorder.coalesced_source = coalesced
        self._sampler = workload.sampler()
        self._rng = np.random.default_rng(shape.seed + 1_000_003)
        self._inflight: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        """Set whenever nothing is in flight (the drain waits on it)."""
        self._deadline = 0.0

    # ---- public -----------------------------------------------------------------------------
    async def run(self) -> LoadReport:
        rec = self.recorder
        rec.start()
        self._deadline = time.perf_counter() + self.shape.duration_s
        ticker = asyncio.create_task(self._ticker())
        extra: dict[str, Any] = {}
        try:
            if isinstance(self.target, DrivingTarget) and not isinstance(self.target, Target):
                extra = await self.target.drive(self.shape, self.workload, rec, self.stop)
            else:
                await self._generate()
                rec.phase = "drain"
                await self._drain()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            rec.tick()  # the last (partial) second
        summary = rec.summary(
            emulated=bool(getattr(self.target, "emulated", False)),
            stopped_early=self.stop.is_set(),
            target=self.target.name,
            mode=self.shape.mode,
            users=self.shape.users if self.shape.mode == "closed" else None,
            duration_s=self.shape.duration_s,
            workload=self.workload.describe(),
            **extra,
        )
        return LoadReport(rec.timeline, summary, rec.outcomes)

    # ---- internals --------------------------------------------------------------------------
    async def _ticker(self) -> None:
        next_t = self.recorder.t0 + 1.0
        while True:
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
            self.recorder.tick()
            next_t += 1.0

    def _remaining(self) -> float:
        return self._deadline - time.perf_counter()

    def _issue(self) -> asyncio.Task[None]:
        question = self._sampler.next()
        self.recorder.issue()
        t0 = time.perf_counter()
        task = asyncio.create_task(self._one(question))
        self._inflight.add(task)
        self._idle.clear()

        def done(t: asyncio.Task[None]) -> None:
            self._inflight.discard(t)
            if not self._inflight:
                self._idle.set()
            # A task cancelled before its first step never ran its body: count it here.
            if t.cancelled():
                self.recorder.record(
                    Outcome("cancelled", time.perf_counter() - t0, question, error="cancelled")
                )

        task.add_done_callback(done)
        return task

    async def _one(self, question: str) -> None:
        t0 = time.perf_counter()
        try:
            outcome = await self.target.call(question)  # type: ignore[union-attr]
        except Exception as exc:
            outcome = Outcome(
                "error", time.perf_counter() - t0, question, error=f"{type(exc).__name__}: {exc}"
            )
        self.recorder.record(outcome)

    async def _generate(self) -> None:
        stop_wait = asyncio.create_task(self.stop.wait())
        gen = asyncio.create_task(self._closed() if self.shape.mode == "closed" else self._open())
        try:
            await asyncio.wait(
                {gen, stop_wait}, timeout=self.shape.duration_s + 1.0, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for t in (gen, stop_wait):
                t.cancel()
            await asyncio.gather(gen, stop_wait, return_exceptions=True)

    async def _closed(self) -> None:
        shape = self.shape
        active = 0
        self.recorder.gauges["users"] = 0

        async def user(i: int) -> None:
            nonlocal active
            delay = shape.ramp_up_s * i / shape.users
            await asyncio.sleep(delay)
            active += 1
            self.recorder.gauges["users"] = active
            try:
                while self._remaining() > 0:
                    # shield: a user stopped at the deadline must not cancel its request in flight
                    await asyncio.shield(self._issue())
                    pause = self._think()
                    if pause > 0:
                        await asyncio.sleep(min(pause, max(self._remaining(), 0.0)))
            finally:
                active -= 1
                self.recorder.gauges["users"] = active

        users = [asyncio.create_task(user(i)) for i in range(shape.users)]
        try:
            await asyncio.sleep(max(0.0, self._remaining()))
        finally:
            for u in users:
                u.cancel()
            await asyncio.gather(*users, return_exceptions=True)

    def _think(self) -> float:
        mean = self.shape.think_time_s
        if mean <= 0:
            return 0.0
        return float(self._rng.exponential(mean)) if self.shape.think == "exponential" else mean

    async def _open(self) -> None:
        shape = self.shape
        t0 = self.recorder.t0
        next_at = time.perf_counter()
        while True:
            now = time.perf_counter()
            if now >= self._deadline:
                return
            rate = shape.rate_at(now - t0)
            self.recorder.gauges["rate"] = rate
            if rate <= 0:
                next_at = now + 0.05
                await asyncio.sleep(0.05)
                continue
            gap = float(self._rng.exponential(1.0 / rate)) if shape.arrivals == "poisson" else 1.0 / rate
            next_at += gap
            if next_at >= self._deadline:
                await asyncio.sleep(max(0.0, self._deadline - time.perf_counter()))
                return
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self._issue()

    async def _drain(self) -> None:
        # One wait on "nothing in flight" (an event the done callbacks set), not a wait over every
        # task per completion: the drain is O(n) however many requests are still running.
        bound = self.cancel_drain_s if self.stop.is_set() else self.shape.drain_s
        if self._inflight:
            deadline = time.perf_counter() + bound
            idle = asyncio.ensure_future(self._idle.wait())
            stop_wait = asyncio.ensure_future(self.stop.wait()) if not self.stop.is_set() else None
            try:
                while not idle.done() and (remaining := deadline - time.perf_counter()) > 0:
                    done, _ = await asyncio.wait(
                        {idle} | ({stop_wait} if stop_wait else set()),
                        timeout=remaining,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if stop_wait is not None and stop_wait in done:
                        # stopped while draining: shorten the bound
                        deadline = min(deadline, time.perf_counter() + self.cancel_drain_s)
                        stop_wait = None
            finally:
                idle.cancel()
                if stop_wait is not None:
                    stop_wait.cancel()
        pending = list(self._inflight)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
