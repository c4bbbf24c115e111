"""Domain models: what goes in, what comes out, what is recorded.

These are the validated boundary types. Inside the graph the state carries their plain-data
form (``model_dump()``), which every codec can round-trip cheaply.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

QUESTION_MIN, QUESTION_MAX = 10, 500
MAX_SOURCES_MIN, MAX_SOURCES_MAX = 1, 50

Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=QUESTION_MIN, max_length=QUESTION_MAX)
]


def new_id() -> str:
    """A short random id (hex), unique enough for runs and queries."""
    return uuid.uuid4().hex[:16]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ResearchQuery(BaseModel):
    """A research question, as a user asks it.

    >>> ResearchQuery(question="  How do I gather coroutines?  ").question
    'How do I gather coroutines?'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: Question
    """The question, 10-500 characters once surrounding whitespace is trimmed."""
    max_sources: int = Field(10, ge=MAX_SOURCES_MIN, le=MAX_SOURCES_MAX)
    """How many findings the answer may cite (1-50)."""
    domains: tuple[str, ...] = ()
    """Which sources to search, by name; empty means every source."""
    id: str = Field(default_factory=new_id)
    """The query id, chosen by the caller or generated."""


class Finding(BaseModel):
    """One piece of evidence retrieved from a source."""

    model_config = ConfigDict(extra="forbid")

    source: str
    """The source that returned it (e.g. ``stdlib``)."""
    doc_id: str
    """Stable id of the chunk inside its source's corpus."""
    title: str
    """Human title: a dotted name for docstrings, a file name and heading for documents."""
    location: str
    """Where to read it: a module path (``asyncio.tasks.gather``), file path or URL."""
    snippet: str
    """The retrieved text (a chunk), shortened for display."""
    relevance: float = Field(ge=0.0, le=1.0)
    """Relevance to the question, 0-1, as scored by the relevance agent."""
    score: float = 0.0
    """The retrieval score the relevance was derived from (hybrid BM25 + embeddings, 0-1)."""
    also_in: list[str] = []
    """Other locations holding the same text (near-duplicates merged into this finding)."""


class FailedSource(BaseModel):
    """A source that did not answer; the others still did."""

    source: str
    reason: str
    kind: str = "error"
    """``timeout`` or ``error``."""


class NodeTiming(BaseModel):
    """When one graph node ran, relative to the start of its run."""

    node: str
    start_s: float
    duration_s: float
    cache_hit: bool = False


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    ERROR = "error"
    REJECTED = "rejected"


class ResearchResult(BaseModel):
    """The answer to a research question, with its evidence and how it was produced."""

    query_id: str
    question: str
    findings: list[Finding]
    summary: str
    """Summary text whose ``[n]`` citations point at ``findings[n-1]``."""
    confidence: float = Field(ge=0.0, le=1.0)
    key_terms: list[str] = []
    sources_used: list[str]
    failed_sources: list[FailedSource] = []
    timings: list[NodeTiming] = []
    phases: dict[str, float] = {}
    """Seconds spent per phase (llm, sources, validation, serialization, cache, graph)."""
    processing_time_s: float = 0.0
    status: RunStatus = RunStatus.OK
    emulated: bool = False
    """True when any latency in this run was emulated (model or remote source profiles)."""
    cached: bool = False
    """True when the whole result came from the result cache."""
    settings_version: int = 0
    model: str = "offline"


class RunRecord(BaseModel):
    """Everything recorded about one run: the query, the outcome, the settings it ran under."""

    run_id: str
    query: ResearchQuery
    status: RunStatus = RunStatus.QUEUED
    result: ResearchResult | None = None
    error: str | None = None
    settings_version: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def timings(self) -> list[NodeTiming]:
        return self.result.timings if self.result else []


def parse_query(
    data: ResearchQuery | dict[str, Any] | str, known_sources: Iterable[str] | None = None
) -> ResearchQuery:
    """Validate user input into a ResearchQuery; raise InvalidInput naming each bad field.

    >>> parse_query("short")
    Traceback (most recent call last):
    ...
    core.errors.InvalidInput: question: String should have at least 10 characters
    """
    from core.errors import InvalidInput

    try:
        if isinstance(data, str):
            query = ResearchQuery(question=data)
        elif isinstance(data, dict):
            query = ResearchQuery.model_validate(data)
        else:
            query = data
    except ValidationError as exc:
        raise InvalidInput.from_validation_error(exc) from None
    if known_sources is not None:
        known = list(known_sources)
        unknown = [d for d in query.domains if d not in known]
        if unknown:
            raise InvalidInput(
                [{"field": "domains", "message": f"unknown source(s) {unknown}; available: {sorted(known)}"}]
            )
    return query
