"""ResilientSource: retries (tenacity), timeouts and emulated remote latency."""

from __future__ import annotations

import asyncio
import random

import pytest

from core.config import LatencyProfile
from core.errors import SourceError, SourceTimeout
from core.sources.base import Hit, SearchOutcome
from core.sources.resilient import ResilientSource

HIT = Hit("d1", "asyncio.gather", "asyncio.tasks.gather", "Return a future aggregating results", 3.2)


class ScriptedSource:
    """An in-memory Source that fails its first ``failures`` calls in the given way."""

    name = "scripted"
    description = "in-memory test source"
    version = "0"
    doc_count = 1

    def __init__(self, failures: int = 0, how: str = "error") -> None:
        self.failures, self.how, self.calls = failures, how, 0

    async def search(self, query: str, k: int, *, profile: LatencyProfile | None = None) -> SearchOutcome:
        self.calls += 1
        if self.calls <= self.failures:
            if self.how == "hang":
                await asyncio.Event().wait()
            if self.how == "bug":
                raise KeyError("broken index")
            raise SourceError(self.name, f"transient failure {self.calls}")
        return SearchOutcome(self.name, [HIT][:k])


def _fast(inner: ScriptedSource, **kw: object) -> ResilientSource:
    return ResilientSource(inner, backoff_initial_s=0.001, backoff_max_s=0.01, **kw)  # type: ignore[arg-type]


async def test_fails_twice_then_succeeds_after_retries() -> None:
    inner = ScriptedSource(failures=2)
    outcome = await _fast(inner, timeout_s=1, retries=2).search("q", 5)
    assert outcome.hits == [HIT]
    assert outcome.attempts == 3 == inner.calls
    assert outcome.errors == ["transient failure 1", "transient failure 2"]
    assert outcome.emulated is False and outcome.emulated_s == 0.0


async def test_too_many_failures_raise_source_error_with_reason() -> None:
    inner = ScriptedSource(failures=5)
    with pytest.raises(SourceError, match=r"transient failure 2 \(after 2 attempts\)") as info:
        await _fast(inner, timeout_s=1, retries=1).search("q", 5)
    assert not isinstance(info.value, SourceTimeout)
    assert inner.calls == 2


async def test_always_hanging_source_times_out_after_retries_plus_one_attempts() -> None:
    inner = ScriptedSource(failures=100, how="hang")
    with pytest.raises(SourceTimeout, match=r"no answer within 0.05s \(after 3 attempts\)") as info:
        await _fast(inner, timeout_s=0.05, retries=2).search("q", 5)
    assert isinstance(info.value, TimeoutError)  # catchable as the built-in too
    assert inner.calls == 3


async def test_unexpected_exception_is_a_source_error_and_not_retried() -> None:
    inner = ScriptedSource(failures=1, how="bug")
    with pytest.raises(SourceError, match="unexpected KeyError"):
        await _fast(inner, timeout_s=1, retries=3).search("q", 5)
    assert inner.calls == 1


async def test_emulated_failure_rate_one_raises_source_error() -> None:
    inner = ScriptedSource()
    profile = LatencyProfile(median_ms=1, sigma=0, failure_rate=1.0)
    with pytest.raises(SourceError, match=r"emulated remote failure \(after 3 attempts\)"):
        await _fast(inner, timeout_s=1, retries=2, rng=random.Random(7)).search("q", 5, profile=profile)
    assert inner.calls == 0  # the emulated remote failed before reaching the corpus


async def test_emulated_latency_is_reported() -> None:
    profile = LatencyProfile(median_ms=20, sigma=0, failure_rate=0)
    outcome = await _fast(ScriptedSource(), timeout_s=1, retries=0).search("q", 5, profile=profile)
    assert outcome.emulated is True
    assert outcome.emulated_s >= 0.02  # sigma=0: exactly the median, and a sleep never ends early
    assert outcome.seconds >= outcome.emulated_s
    assert outcome.to_dict()["emulated"] is True


def test_lognormal_draws_have_the_profile_median() -> None:
    rs = ResilientSource(ScriptedSource(), timeout_s=1, retries=0, rng=random.Random(42))  # type: ignore[arg-type]
    draws = sorted(rs.emulated_delay_s(LatencyProfile(median_ms=100, sigma=0.5)) for _ in range(2001))
    assert 0.09 < draws[1000] < 0.11
    assert draws[-1] > 0.2  # a real tail


async def test_emulated_latency_beyond_the_timeout_times_out() -> None:
    inner = ScriptedSource()
    profile = LatencyProfile(median_ms=5_000, sigma=0)
    with pytest.raises(SourceTimeout):
        await _fast(inner, timeout_s=0.02, retries=1).search("q", 5, profile=profile)
    assert inner.calls == 0
