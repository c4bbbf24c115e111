"""The one Source protocol and its result types, ``Hit`` and ``SearchOutcome``.

A source answers ``search(query, k, profile=...)`` with a ``SearchOutcome``: its best chunks first,
and what the search took. Its ``version`` is a short hex hash that changes whenever its corpus
changes, so caches can key on it. Local indexes (``IndexedSource``), the resilient wrapper
(``ResilientSource``), the registry's sources and the workflow nodes all speak this one protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from core.config import LatencyProfile


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved chunk.

    >>> Hit("a#0", "asyncio.gather", "asyncio.tasks.gather", "Return a future...", 7.5).to_dict()["title"]
    'asyncio.gather'
    """

    doc_id: str
    """Stable id of the chunk inside its source's corpus."""
    title: str
    """Human title: a public dotted name, or a file name and heading."""
    location: str
    """Where to read it: a dotted path, ``pypi:<dist>``, or a file path (+ ``#heading``)."""
    text: str
    """The chunk's text."""
    score: float
    """The raw BM25 score (higher is better; not normalized)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data with every field (spelled out: ``dataclasses.asdict`` deep-copies, and it was
        6% of an uncached run's CPU)."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "location": self.location,
            "text": self.text,
            "score": self.score,
        }


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What one search produced, and what it took.

    >>> SearchOutcome("stdlib", []).attempts
    1
    """

    source: str
    hits: list[Hit]
    attempts: int = 1
    """Attempts made, the successful one included (1 = no retry)."""
    seconds: float = 0.0
    """Wall time of the whole search, backoff and emulated latency included."""
    emulated: bool = False
    """True when an emulated remote-latency profile was applied."""
    emulated_s: float = 0.0
    """Seconds spent sleeping emulated latency (over all attempts)."""
    errors: list[str] = field(default_factory=list)
    """Reasons of the failed attempts that were retried."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "hits": [h.to_dict() for h in self.hits],
            "attempts": self.attempts,
            "seconds": self.seconds,
            "emulated": self.emulated,
            "emulated_s": self.emulated_s,
            "errors": list(self.errors),
        }


@runtime_checkable
class Source(Protocol):
    """A searchable corpus. ``search`` raises ``core.errors.SourceError`` when it cannot answer."""

    @property
    def name(self) -> str:
        """``stdlib`` | ``packages`` | ``docs``."""
        ...

    @property
    def description(self) -> str: ...

    @property
    def version(self) -> str:
        """Short hex content hash of the corpus (the corpus version)."""
        ...

    @property
    def doc_count(self) -> int:
        """Number of chunks indexed."""
        ...

    async def search(self, query: str, k: int, *, profile: LatencyProfile | None = None) -> SearchOutcome:
        """The ``k`` best chunks for ``query``, best first, in a ``SearchOutcome``.

        ``profile`` asks for emulated remote latency; only sources that emulate apply it
        (``ResilientSource``), and the outcome's ``emulated`` says whether one did, so nothing is
        ever labelled emulated that was not.
        """
        ...
