"""What a load run sends its questions to: the ``Target`` protocol and the in-process engine target.

A target answers one question and says how it went as an ``Outcome``; it never raises for a failed
or refused request (those are outcomes too). Targets that generate their own load (Locust, which
runs its own users in a subprocess) implement ``DrivingTarget`` instead and feed outcomes to the
recorder themselves. A worker-pool target only has to implement ``Target``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.errors import InvalidInput, Overloaded, ResearchOpsError
from core.load.outcome import Outcome, OutcomeStatus
from core.models import ResearchQuery, RunStatus

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
        latency = time.perf_counter() - t0
        status: OutcomeStatus = "error" if result.status == RunStatus.ERROR else "ok"
        return Outcome(
            status,
            latency,
            question,
            cached=result.cached,
            node_hit=any(t.cache_hit for t in result.timings),
            error=None if status == "ok" else "; ".join(f.reason for f in result.failed_sources) or "error",
            result=result if self.keep_results else None,
        )

    async def aclose(self) -> None:
        """The engine belongs to whoever opened it; nothing to release here."""
