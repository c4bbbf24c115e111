"""The one error tree of ResearchOps.

Each error subclasses the built-in that fits, so callers who know nothing of ResearchOps can
still catch it sensibly::

    ResearchOpsError(Exception)
    ├── InvalidInput(ResearchOpsError, ValueError)      bad user input; names field and limit
    ├── Overloaded(ResearchOpsError, RuntimeError)      admission control refused a run (HTTP 429)
    ├── RunNotFound(ResearchOpsError, LookupError)      unknown run id (HTTP 404)
    ├── SourceError(ResearchOpsError, RuntimeError)     one source failed; becomes failed_sources
    │   └── SourceTimeout(SourceError, TimeoutError)
    ├── ModelError(ResearchOpsError, RuntimeError)      a model (agent) call failed
    ├── CodecError(ResearchOpsError, ValueError)        a value could not be encoded or decoded
    ├── CacheBackendError(ResearchOpsError, ConnectionError)  an L2 backend failed (always absorbed)
    ├── StoreError(ResearchOpsError, RuntimeError)      the run store failed
    ├── Unavailable(ResearchOpsError, ConnectionError)  a shared backend is down, no fallback (503)
    ├── RunOwned(ResearchOpsError, RuntimeError)        another live process holds the run's lease
    └── ConfigError(ResearchOpsError, ValueError)       settings are inconsistent
"""

from __future__ import annotations

from typing import Any


class ResearchOpsError(Exception):
    """Base of every error raised on purpose by ResearchOps."""


class InvalidInput(ResearchOpsError, ValueError):
    """User input broke a rule. ``errors`` lists ``{"field", "message"}`` items."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))

    @classmethod
    def from_validation_error(cls, exc: Any) -> InvalidInput:
        """Build from a ``pydantic.ValidationError``, one item per failing field."""
        items = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err.get("loc", ())) or "input"
            items.append({"field": field, "message": err.get("msg", "invalid")})
        return cls(items)


class Overloaded(ResearchOpsError, RuntimeError):
    """The engine is at its concurrency limit and its wait queue is full."""

    def __init__(self, active: int, queued: int, retry_after: float = 1.0) -> None:
        self.active, self.queued, self.retry_after = active, queued, retry_after
        super().__init__(
            f"overloaded: {active} workflows running and {queued} waiting (queue full); "
            f"retry after {retry_after:.0f}s"
        )


class RunNotFound(ResearchOpsError, LookupError):
    """No run with this id."""


class SourceError(ResearchOpsError, RuntimeError):
    """A source failed to answer."""

    def __init__(self, source: str, reason: str) -> None:
        self.source, self.reason = source, reason
        super().__init__(f"source {source!r} failed: {reason}")


class SourceTimeout(SourceError, TimeoutError):
    """A source did not answer within its timeout."""


class ModelError(ResearchOpsError, RuntimeError):
    """A model call failed."""


class CodecError(ResearchOpsError, ValueError):
    """A value could not be encoded or decoded by a codec."""


class CacheBackendError(ResearchOpsError, ConnectionError):
    """An L2 cache backend failed. The tiered cache counts and absorbs it."""


class StoreError(ResearchOpsError, RuntimeError):
    """The run store failed."""


class Unavailable(ResearchOpsError, ConnectionError):
    """A shared backend (Redis, PostgreSQL) is down and this call has no fallback (HTTP 503 +
    ``Retry-After``), e.g. an async submission that needs the queue, or a settings change."""

    def __init__(self, component: str, message: str, retry_after: float = 1.0) -> None:
        self.component, self.retry_after = component, retry_after
        super().__init__(message)


class RunOwned(ResearchOpsError, RuntimeError):
    """The run is executing (or has finished) under another owner's lease: it is not run twice."""

    def __init__(self, run_id: str, owner: str, *, finished: bool = False) -> None:
        self.run_id, self.owner, self.finished = run_id, owner, finished
        state = "finished" if finished else "is running"
        super().__init__(f"run {run_id!r} {state} under {owner!r}; not executed again")


class ConfigError(ResearchOpsError, ValueError):
    """Settings are missing or inconsistent."""
