"""What the run store keeps and for how long: frozen values, apart from any backend.

Why bursts log less: a full run writes ~20 events (started, 4 nodes x started/finished, one
state delta per node and source, completed), each carrying JSON (state deltas hold the retrieved
snippets, ``completed`` the whole result). A 10k-user burst would write ~200k rows and tens of MB
in seconds; the store would become the bottleneck being measured and history would drown in
near-identical runs. ``summary`` keeps one started + one completed/error per run (the history row
and the result stay complete); ``sampled`` keeps full timelines for a stable, seeded fraction of
runs so per-node behaviour under load can still be inspected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import xxhash
from pydantic import BaseModel, ConfigDict, Field

from core.store.events import SUMMARY_ONLY_KEY, SUMMARY_TYPES, RunEvent

if TYPE_CHECKING:
    from core.store.base import RunStore


class Retention(BaseModel):
    """How much history to keep; None means no limit on that axis.

    >>> Retention(max_runs=1000).max_age_s is None
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_age_s: float | None = Field(default=None, gt=0)
    """Delete runs created longer ago than this."""
    max_runs: int | None = Field(default=None, ge=0)
    """Keep at most this many runs (the newest)."""

    async def apply(self, store: RunStore) -> int:
        """Prune ``store`` to this retention; returns the number of runs deleted."""
        return await store.prune(max_age_s=self.max_age_s, max_runs=self.max_runs)


class EventPolicy(BaseModel):
    """Which events of a run are logged.

    - ``full``: every event.
    - ``summary``: only ``started`` and ``completed``/``error`` (one history row per run).
    - ``sampled``: every event for a seeded fraction ``sample_rate`` of runs, summary for the rest.

    The choice per run is a pure function of ``(seed, run_id)``, so every batch of one run (and
    every process) agrees without coordination.

    >>> p = EventPolicy(mode="sampled", sample_rate=0.0)
    >>> [e.type for e in p.filter([RunEvent(run_id="r", seq=0, type="started"),
    ...                            RunEvent(run_id="r", seq=1, type="node_started")])]
    ['started']
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["full", "summary", "sampled"] = "full"
    sample_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    """Fraction of runs logged in full in ``sampled`` mode."""
    seed: int = 0
    """Changes which runs are sampled, deterministically."""

    def logs_full(self, run_id: str) -> bool:
        """True when every event of ``run_id`` is to be logged."""
        if self.mode == "full":
            return True
        if self.mode == "summary":
            return False
        # 64-bit hash -> uniform in [0, 1); stable across processes (unlike hash()).
        return xxhash.xxh64_intdigest(run_id.encode(), seed=self.seed) / 2**64 < self.sample_rate

    def logs_answers(self, run_id: str) -> bool:
        """True when a run answered without a graph run (a result-cache hit, a coalesced follower)
        is logged at all: under ``summary`` such runs write nothing (a burst's thousands of hits
        would be near-identical rows, and the writes cost more than the hit), under ``sampled``
        only the sampled ones, under ``full`` every one."""
        return self.logs_full(run_id)

    def filter(self, events: Iterable[RunEvent]) -> list[RunEvent]:
        """The events to append: all of them for full-logged runs, summary events for the rest.

        A summary-only run's ``started`` event is marked (``data["summary_only"] = True``) so the
        store flags its history row as ``sampled``.
        """
        out: list[RunEvent] = []
        decided: dict[str, bool] = {}
        for event in events:
            full = decided.get(event.run_id)
            if full is None:
                full = decided[event.run_id] = self.logs_full(event.run_id)
            if full:
                out.append(event)
            elif event.type == "started":
                out.append(event.model_copy(update={"data": {**event.data, SUMMARY_ONLY_KEY: True}}))
            elif event.type in SUMMARY_TYPES:
                out.append(event)
        return out
