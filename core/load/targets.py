"""What a load run sends its questions to: the ``Target`` protocol and the in-process engine target.

A target answers one question and says how it went as an ``Outcome``; it never raises for a failed
or refused request (those are outcomes too). Targets that generate their own load (Locust, which
runs its own users in a subprocess) implement ``DrivingTarget`` instead and feed outcomes to the
recorder themselves. ``WorkersTarget`` sends each question through the queue to the worker pool.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.errors import InvalidInput, Overloaded, ResearchOpsError
from core.load.outcome import Outcome, OutcomeStatus
from core.models import ResearchQuery, ResearchResult, RunStatus

if TYPE_CHECKING:
    from core.load.timeline import Recorder
    from core.load.workload import Workload


@runtime_checkable
class Target(Protocol):
    """Something that answers questions one at a time (many concurrently)."""

    name: str

    @property
    def emulated(self) -> bool:
        """True when the target emulates latency (model or source); reports label it."""
        ...

    async def call(self, question: str) -> Outcome: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class DrivingTarget(Protocol):
    """A target that runs the users itself (e.g. Locust) and reports outcomes to ``recorder``."""

    name: str

    @property
    def emulated(self) -> bool: ...

    async def drive(
        self, shape: Any, workload: Workload, recorder: Recorder, stop: Any
    ) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class EngineTarget:
    """An ``Engine`` in this process.

    >>> # target = EngineTarget(engine); outcome = await target.call("What does json.load do?")
    """

    name = "engine"

    def __init__(self, engine: Any, *, keep_results: bool = False, max_sources: int = 10) -> None:
        self.engine = engine
        self.keep_results = keep_results
        self.max_sources = max_sources

    @property
    def emulated(self) -> bool:
        return bool(self.engine.settings.emulated)

    async def call(self, question: str) -> Outcome:
        t0 = time.perf_counter()
        try:
            result = await self.engine.run(ResearchQuery(question=question, max_sources=self.max_sources))
        except Overloaded as exc:
            return Outcome("rejected", time.perf_counter() - t0, question, error=str(exc))
        except InvalidInput as exc:
            return Outcome("error", time.perf_counter() - t0, question, error=f"invalid input: {exc}")
        except ResearchOpsError as exc:
            return Outcome("error", time.perf_counter() - t0, question, error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            return Outcome("error", time.perf_counter() - t0, question, error=f"{type(exc).__name__}: {exc}")
        return _outcome(result, time.perf_counter() - t0, question, self.keep_results)

    def coalesced(self) -> int:
        """Requests of this engine that shared another's run so far (the singleflight counter)."""
        registry = getattr(self.engine.c.metrics, "registry", None)
        return coalesced_total(registry) if registry is not None else 0

    async def aclose(self) -> None:
        """The engine belongs to whoever opened it; nothing to release here."""


def coalesced_total(registry: Any) -> int:
    """``researchops_coalesced_total`` summed over its levels in a Prometheus registry (0 if absent)."""
    total = 0.0
    for metric in registry.collect():
        if metric.name == "researchops_coalesced":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return int(total)


def _outcome(result: ResearchResult, latency: float, question: str, keep: bool) -> Outcome:
    status: OutcomeStatus = "error" if result.status == RunStatus.ERROR else "ok"
    return Outcome(
        status,
        latency,
        question,
        cached=result.cached,
        node_hit=any(t.cache_hit for t in result.timings),
        error=None if status == "ok" else "; ".join(f.reason for f in result.failed_sources) or "error",
        result=result if keep else None,
    )


class WorkersTarget:
    """The worker pool through the queue (``core.queue.WorkerPool``: batched submits, pushed replies).

    >>> # target = WorkersTarget("redis://127.0.0.1:6379/0"); await target.start()
    """

    name = "workers"
    emulated = False  # the workers' settings decide; each result carries its own flag

    def __init__(
        self, redis_url: str, *, keep_results: bool = False, max_sources: int = 10, timeout_s: float = 600.0
    ) -> None:
        from core.queue import WorkerPool

        self.pool = WorkerPool(redis_url, timeout_s=timeout_s)
        self.keep_results, self.max_sources = keep_results, max_sources

    async def start(self) -> None:
        await self.pool.start()

    async def call(self, question: str) -> Outcome:
        t0 = time.perf_counter()
        try:
            result = await self.pool.run(ResearchQuery(question=question, max_sources=self.max_sources))
        except Overloaded as exc:
            return Outcome("rejected", time.perf_counter() - t0, question, error=str(exc))
        except Exception as exc:
            return Outcome("error", time.perf_counter() - t0, question, error=f"{type(exc).__name__}: {exc}")
        if result.emulated:
            self.emulated = True
        return _outcome(result, time.perf_counter() - t0, question, self.keep_results)

    async def aclose(self) -> None:
        await self.pool.aclose()
