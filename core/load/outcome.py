"""How one load request went: the ``Outcome`` value targets return and the recorder counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.models import ResearchResult

OutcomeStatus = Literal["ok", "error", "rejected", "cancelled"]


@dataclass(slots=True)
class Outcome:
    """How one request went."""

    status: OutcomeStatus
    """``ok`` (an answer, possibly partial), ``error``, ``rejected`` (overloaded), ``cancelled``."""
    latency_s: float
    question: str = ""
    cached: bool = False
    """The whole result came from the result cache."""
    node_hit: bool = False
    """At least one graph node's output came from the per-node cache."""
    error: str | None = None
    result: ResearchResult | None = None
    """Kept only when the runner asks (experiments compare answers)."""
