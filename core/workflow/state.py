"""The graph state: a TypedDict of plain data.

A TypedDict is measurably cheaper than a Pydantic state model (LangGraph rebuilds a Pydantic state
before every node), and plain data round-trips through every codec. Validation happens at the
boundaries (see ``core.workflow.validation``).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


class ResearchState(TypedDict, total=False):
    query: dict[str, Any]
    """The validated ResearchQuery as plain data."""
    sources: list[str]
    """The sources this run searches (the query's domains, or every source)."""
    versions: dict[str, str]
    """Corpus version of each selected source, taken when the run started."""
    terms: list[str]
    search_query: str
    hits: Annotated[list[dict[str, Any]], operator.add]
    """Source documents from every source that answered (a reducer: branches append)."""
    failed_sources: Annotated[list[dict[str, Any]], operator.add]
    findings: list[dict[str, Any]]
    summary: str
    confidence: float
    cited: list[int]


class SearchTask(TypedDict):
    """The input of one fan-out branch (a LangGraph ``Send`` payload)."""

    source: str
    version: str
    search_query: str
    k: int
