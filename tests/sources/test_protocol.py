"""The one Source protocol: local indexes, the resilient wrapper and test sources answer a SearchOutcome."""

from __future__ import annotations

from core.config import LatencyProfile
from core.sources.base import SearchOutcome, Source
from core.sources.indexed import IndexedSource
from core.sources.resilient import ResilientSource
from tests.sources.test_resilient import HIT, ScriptedSource

TINY = LatencyProfile(median_ms=1, sigma=0)


async def test_every_source_satisfies_the_protocol_and_answers_an_outcome(
    stdlib_source: IndexedSource,
) -> None:
    wrapped = ResilientSource(stdlib_source, timeout_s=5, retries=0)
    for source in (stdlib_source, wrapped, ScriptedSource()):
        assert isinstance(source, Source)
        out = await source.search("run coroutines concurrently", 2)
        assert isinstance(out, SearchOutcome)
        assert out.source == source.name and 1 <= len(out.hits) <= 2
        assert out.attempts == 1 and out.emulated is False
    assert (await wrapped.search("run coroutines concurrently", 2)).hits == (
        await stdlib_source.search("run coroutines concurrently", 2)
    ).hits


async def test_only_a_source_that_emulates_labels_its_outcome_emulated(stdlib_source: IndexedSource) -> None:
    """A local index ignores a latency profile and says so; the resilient wrapper applies it."""
    local = await stdlib_source.search("gzip compress", 1, profile=TINY)
    assert local.emulated is False and local.emulated_s == 0.0
    remote = await ResilientSource(ScriptedSource(), timeout_s=1, retries=0).search("q", 1, profile=TINY)
    assert remote.emulated is True and remote.emulated_s > 0 and remote.hits == [HIT]
