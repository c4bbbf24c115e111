"""The typed outputs of the three agents (what every model, offline or real, must return).

Each is the schema of the agent's output tool: a real provider sees the field docstrings as the
tool's parameter descriptions, and the values are validated before anyone reads them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class KeyTerms(BaseModel):
    """The informative terms of a research question and a search query built from them.

    >>> KeyTerms(terms=["asyncio", "gather"], search_query="asyncio gather").terms
    ['asyncio', 'gather']
    """

    model_config = ConfigDict(extra="forbid")

    terms: list[str] = Field(min_length=1, max_length=16)
    """The key terms, most informative first; identifiers (``asyncio``, ``TaskGroup``) kept as written."""
    search_query: str = Field(min_length=1, max_length=500)
    """A keyword query for the retrieval sources, built from the key terms."""


class RelevanceScores(BaseModel):
    """Relevance of each candidate to the question, in the candidates' order.

    >>> RelevanceScores(scores=[0.9, 0.1]).scores
    [0.9, 0.1]
    """

    model_config = ConfigDict(extra="forbid")

    scores: list[Unit]
    """One score per candidate, 0 (unrelated) to 1 (answers the question), same order as given."""


class Summary(BaseModel):
    """A short answer built from the findings, citing them as ``[n]``.

    >>> Summary(text="gather runs awaitables concurrently [1].", confidence=0.8, cited=[1]).cited
    [1]
    """

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    """The summary; each claim ends with ``[n]``, a 1-based index into the findings given."""
    confidence: Unit
    """How well the cited findings answer the question, 0-1."""
    cited: list[int] = []
    """The finding indexes ``n`` cited in ``text`` (1-based)."""
