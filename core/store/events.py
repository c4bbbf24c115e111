"""Run events: the append-only facts a workflow run leaves behind, and pure folds over them.

A run writes ``started`` first, then ``node_started`` / ``node_finished`` / ``state_updated`` /
``source_failed`` while it runs, and ``completed`` or ``error`` last. ``seq`` numbers them 0, 1,
2... per run; the engine assigns them (``EventBuilder`` does the counting), the store only keeps
them. Everything here is pure: no I/O, so history views and tests can fold events anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.models import ResearchQuery, ResearchResult, RunStatus, utcnow

EventType = Literal[
    "started", "node_started", "node_finished", "source_failed", "state_updated", "error", "completed"
]
TERMINAL_TYPES: frozenset[str] = frozenset({"completed", "error"})
"""Event types that end a run."""
SUMMARY_TYPES: frozenset[str] = frozenset({"started", "completed", "error"})
"""Event types kept for every run, whatever the event policy: enough for the history listing."""
SUMMARY_ONLY_KEY = "summary_only"
"""Key set to True in the data of a ``started`` event whose run keeps only summary events."""
APPEND_KEYS: frozenset[str] = frozenset({"hits", "failed_sources"})
"""State keys whose updates are appended (LangGraph list reducers); other keys are replaced."""


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken as UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RunEvent(BaseModel):
    """One fact about one run, immutable once written.

    >>> RunEvent(run_id="r1", seq=0, type="error", data={"message": "boom"}).type
    'error'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(min_length=1, max_length=200)
    """The run this event belongs to."""
    seq: int = Field(ge=0)
    """Position in the run: 0, 1, 2... assigned by the engine in order."""
    type: EventType
    """What happened."""
    at: datetime = Field(default_factory=utcnow)
    """When it happened (UTC; naive values are taken as UTC)."""
    data: dict[str, Any] = {}
    """Plain JSON data. started: ``query``, ``settings_version``, ``settings``; node_started/finished:
    ``node``, ``duration_s``, ``cache_hit``, ``output``; state_updated: ``node``, ``update``;
    source_failed: ``source``, ``reason``, ``kind``; completed: ``result``; error: ``message``."""

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class RunSummary(BaseModel):
    """One row of run history, maintained by the store as events arrive (listing never scans events)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    question: str = ""
    """The question (empty until the ``started`` event is stored)."""
    status: RunStatus = RunStatus.RUNNING
    """``running`` until ``completed`` (the result's status) or ``error``."""
    settings_version: int = 0
    """The EngineSettings version the run started under."""
    created_at: datetime
    """Time of the ``started`` event (or of the first event seen)."""
    finished_at: datetime | None = None
    duration_s: float | None = None
    """``finished_at - created_at`` in seconds, once finished."""
    n_events: int = 0
    """Events stored for this run."""
    sampled: bool = False
    """True when the event policy kept only this run's summary events (started + completed/error):
    its node timeline and rebuilt state are not available, its result is."""

    @property
    def full_log(self) -> bool:
        """True when every event of this run was logged."""
        return not self.sampled


class EventBuilder:
    """Numbers the events of one run in order; the engine keeps one per run.

    >>> b = EventBuilder("r1")
    >>> [b.emit("node_started", node="parse_query").seq, b.error("boom").seq]
    [0, 1]
    """

    def __init__(self, run_id: str, start_seq: int = 0) -> None:
        self.run_id = run_id
        self.next_seq = start_seq

    def emit(self, type: EventType, **data: Any) -> RunEvent:
        event = RunEvent(run_id=self.run_id, seq=self.next_seq, type=type, data=data)
        self.next_seq += 1
        return event

    def started(self, query: ResearchQuery, settings_version: int, settings: dict[str, Any]) -> RunEvent:
        """``settings`` is ``EngineSettings.modes()`` (plain JSON)."""
        return self.emit(
            "started",
            query=query.model_dump(mode="json"),
            settings_version=settings_version,
            settings=settings,
        )

    def completed(self, result: ResearchResult) -> RunEvent:
        return self.emit("completed", result=result.model_dump(mode="json"))

    def error(self, message: str) -> RunEvent:
        return self.emit("error", message=message)


def rebuild_state(events: Iterable[RunEvent]) -> dict[str, Any]:
    """Fold the ``state_updated`` deltas of one run, in ``seq`` order, into its final state.

    ``hits`` and ``failed_sources`` are appended (as the graph's reducers do); other keys replaced.

    >>> evs = [RunEvent(run_id="r", seq=i, type="state_updated", data={"update": u})
    ...        for i, u in enumerate([{"hits": [1], "terms": ["a"]}, {"hits": [2], "terms": ["b"]}])]
    >>> rebuild_state(evs)
    {'hits': [1, 2], 'terms': ['b']}
    """
    state: dict[str, Any] = {}
    for event in sorted(events, key=lambda e: e.seq):
        if event.type != "state_updated":
            continue
        for key, value in (event.data.get("update") or {}).items():
            if key in APPEND_KEYS and isinstance(value, list):
                state[key] = [*state.get(key, []), *value]
            else:
                state[key] = value
    return state


def rebuild_result(events: Iterable[RunEvent]) -> ResearchResult | None:
    """The run's ``ResearchResult`` from its ``completed`` event, or None if it never completed.

    >>> rebuild_result([RunEvent(run_id="r", seq=0, type="error", data={"message": "x"})]) is None
    True
    """
    completed = [e for e in events if e.type == "completed"]
    if not completed:
        return None
    return ResearchResult.model_validate(max(completed, key=lambda e: e.seq).data["result"])


def terminal_status(event: RunEvent) -> RunStatus:
    """The run status a terminal event implies (the result's own status for ``completed``)."""
    if event.type == "error":
        return RunStatus.ERROR
    status = (event.data.get("result") or {}).get("status", RunStatus.OK)
    try:
        return RunStatus(status)
    except ValueError:
        return RunStatus.OK
