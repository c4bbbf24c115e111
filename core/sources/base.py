"""The Source protocol and its result type, ``Hit``.

A source answers ``search(query, k)`` with its best chunks first. Its ``version`` is a short hex
hash that changes whenever its corpus changes, so caches can key on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable


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
        """Plain data with every field."""
        return asdict(self)


@runtime_checkable
class Source(Protocol):
    """A searchable corpus. ``search`` raises ``core.errors.SourceError`` when it cannot answer."""

    name: str
    """``stdlib`` | ``packages`` | ``docs``."""
    description: str

    @property
    def version(self) -> str:
        """Short hex content hash of the corpus (the corpus version)."""
        ...

    @property
    def doc_count(self) -> int:
        """Number of chunks indexed."""
        ...

    async def search(self, query: str, k: int) -> list[Hit]:
        """The ``k`` best chunks for ``query``, best first."""
        ...
