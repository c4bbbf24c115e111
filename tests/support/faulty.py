"""Sources that fail on purpose, for fault-injection tests (real failures, not mocks of a source)."""

from __future__ import annotations

import asyncio

from core.config import LatencyProfile
from core.errors import SourceError
from core.sources.base import SearchOutcome


class BrokenSource:
    """A source whose backend is down: every search raises."""

    description = "always fails"

    def __init__(self, name: str = "broken") -> None:
        self.name = name
        self.calls = 0

    @property
    def version(self) -> str:
        return "0"

    @property
    def doc_count(self) -> int:
        return 0

    async def search(self, query: str, k: int, *, profile: LatencyProfile | None = None) -> SearchOutcome:
        self.calls += 1
        raise SourceError(self.name, "backend unavailable")


class HangingSource(BrokenSource):
    """A source that never answers (the timeout must cut it off)."""

    description = "never answers"

    async def search(self, query: str, k: int, *, profile: LatencyProfile | None = None) -> SearchOutcome:
        self.calls += 1
        await asyncio.Event().wait()
        return SearchOutcome(self.name, [])
