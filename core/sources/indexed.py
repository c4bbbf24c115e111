"""``IndexedSource``: a Source answering from a ``CorpusIndex`` (what stdlib, packages and docs share)."""

from __future__ import annotations

from core.config import LatencyProfile
from core.errors import SourceError
from core.sources.base import SearchOutcome
from core.sources.index import CorpusIndex


class IndexedSource:
    """A named, described corpus index that satisfies the ``Source`` protocol.

    BM25 search over these corpora takes well under a millisecond, so it runs inline on the
    event loop; a thread hop would cost more than the search.
    """

    def __init__(self, name: str, description: str, index: CorpusIndex) -> None:
        self.name = name
        self.description = description
        self.index = index

    @property
    def version(self) -> str:
        return self.index.version

    @property
    def doc_count(self) -> int:
        return len(self.index.chunks)

    async def search(self, query: str, k: int, *, profile: LatencyProfile | None = None) -> SearchOutcome:
        """Best ``k`` chunks for ``query``; raises ``SourceError`` if the index fails.

        A local index emulates nothing: ``profile`` is for ``ResilientSource``, and the outcome
        says ``emulated=False``.

        >>> # hits = (await source.search("run coroutines concurrently", 5)).hits
        """
        try:
            return SearchOutcome(self.name, self.index.search(query, k))
        except Exception as exc:  # a broken index is a failed source, not a crashed run
            raise SourceError(self.name, f"search failed: {exc!r}") from exc

    def __repr__(self) -> str:
        return f"<IndexedSource {self.name} v{self.version} {self.doc_count} chunks>"
