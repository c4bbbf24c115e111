"""Domain models: what goes in, what comes out, what is recorded.

These are the validated boundary types. Inside the graph the state carries their plain-data
form (``model_dump()``), which every codec can round-trip cheaply.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

QUESTION_MIN, QUESTION_MAX = 10, 500
MAX_SOURCES_MIN, MAX_SOURCES_MAX = 1, 50
DOMAINS_MAX, NAME_MAX, ID_MAX = 16, 64, 200
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
# Control characters (Unicode category Cc) except the five that are plain whitespace (\t\n\v\f\r),
# and lone surrogates (Cs). One regex scan: a per-character loop cost 10-15% of a cache hit.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def plain_text(value: str) -> str:
    """Reject what no question contains: NUL and other control characters, lone surrogates
    (unencodable: they broke the 422 body itself). Raises ValueError naming the position."""
    bad = _FORBIDDEN_CHARS.search(value)
    if bad is not None:
        ch, i = bad.group(), bad.start()
        kind = "a lone surrogate" if "\ud800" <= ch <= "\udfff" else "a control character"
        raise PydanticCustomError(
            "string_characters",
            "String contains {kind} (U+{code}) at position {i}",
            {"kind": kind, "code": f"{ord(ch):04X}", "i": i},
        )
    return value


def _question(value: str) -> str:
    # The length limits apply to the text as given (so a 10 MB run of spaces is refused as too
    # long, not trimmed first); the minimum applies to what is left once trimmed, because
    # surrounding whitespace carries no question.
    trimmed = plain_text(value).strip()
    if len(trimmed) < QUESTION_MIN:
        raise PydanticCustomError(
            "string_too_short",
            "String should have at least {min_length} characters (once trimmed)",
            {"min_length": QUESTION_MIN},
        )
    return trimmed


_OK = r"[^\x00-\x08\x0e-\x1f\x7f-\x9f]"  # allowed characters
_SOLID = r"[^\s\x00-\x1f\x7f-\x9f]"  # allowed and not whitespace
_WS = r"[\t\n\v\f\r ]"
QUESTION_PATTERN = rf"^{_WS}*{_SOLID}{_OK}{{{QUESTION_MIN - 2},}}{_SOLID}{_WS}*$"
"""The question's rule as a schema pattern (documentation and fuzzers; ``_question`` enforces it)."""
Question = Annotated[
    str,
    Field(
        min_length=QUESTION_MIN,
        max_length=QUESTION_MAX,
        json_schema_extra={"pattern": QUESTION_PATTERN},
    ),
    AfterValidator(_question),
]


def strict_int(value: Any) -> Any:
    """An integer as JSON Schema means it: ints, and floats with no fraction; never a bool or str.

    >>> strict_int(5.0), strict_int(7)
    (5, 7)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError(
            "int_type", "Input should be a valid integer (not a {t})", {"t": type(value).__name__}
        )
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "Input should be a finite number")
        if not value.is_integer():
            raise PydanticCustomError(
                "int_from_float", "Input should be a valid integer, got a number with a fraction"
            )
        return int(value)
    return value


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX), AfterValidator(plain_text)]


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
    """The question: at most 500 characters as given, at least 10 once surrounding whitespace is
    trimmed (it is stored trimmed); no control characters or lone surrogates."""
    max_sources: Annotated[int, BeforeValidator(strict_int)] = Field(
        10, ge=MAX_SOURCES_MIN, le=MAX_SOURCES_MAX
    )
    """How many findings the answer may cite (1-50): a JSON integer (``5`` or ``5.0``; not a bool,
    a string, a fraction, ``1e400`` or NaN)."""
    domains: tuple[Name, ...] = Field((), max_length=DOMAINS_MAX)
    """Which sources to search, by name (at most 16, duplicates dropped); empty means every source."""
    id: str = Field(default_factory=new_id, min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)
    """The query id, chosen by the caller (letters, digits and ``_ . : -``) or generated."""

    @field_validator("domains")
    @classmethod
    def _dedupe(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))  # one search per source, in the order asked


class Finding(BaseModel):
    """One piece of evidence retrieved from a source (frozen: cached results share them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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

    model_config = ConfigDict(frozen=True)

    source: str
    reason: str
    kind: str = "error"
    """``timeout`` or ``error``."""


class NodeTiming(BaseModel):
    """When one graph node ran, relative to the start of its run."""

    model_config = ConfigDict(frozen=True)

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

    run_id: str | None = None
    """The run that produced this answer: its id in the run store (``researchops runs show``)."""
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
    coalesced: bool = False  # True when it shared an identical in-flight run's answer (singleflight)
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
