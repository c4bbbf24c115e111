"""Emulated latency draws (models and sources): lognormal around the median, bounded tail, failure rate."""

from __future__ import annotations

import math
import random
import statistics

from core.config import LatencyProfile
from core.emulation import emulate, fails, sample_ms


def test_constant_and_zero_profiles() -> None:
    rng = random.Random(0)
    assert sample_ms(LatencyProfile(median_ms=250, sigma=0), rng) == 250.0
    assert sample_ms(LatencyProfile(median_ms=0, sigma=1), rng) == 0.0


def test_draws_centre_on_the_median_with_a_bounded_tail() -> None:
    profile = LatencyProfile(median_ms=100, sigma=0.8)
    rng = random.Random(42)
    draws = [sample_ms(profile, rng) for _ in range(4001)]
    assert 90 < statistics.median(draws) < 110
    assert max(draws) <= 100 * math.exp(4 * 0.8) + 1e-9
    assert max(draws) > 300  # a real tail, not a constant


def test_failure_rate_is_honoured() -> None:
    rng = random.Random(1)
    assert not any(fails(LatencyProfile(failure_rate=0.0), rng) for _ in range(200))
    assert all(fails(LatencyProfile(failure_rate=1.0), rng) for _ in range(200))
    share = sum(fails(LatencyProfile(failure_rate=0.25), rng) for _ in range(4000)) / 4000
    assert 0.2 < share < 0.3


async def test_emulate_sleeps_and_reports_the_draw() -> None:
    rng_a, rng_b = random.Random(9), random.Random(9)
    profile = LatencyProfile(median_ms=2, sigma=0.5)
    slept = await emulate(profile, rng_a)
    assert slept > 0
    assert slept == sample_ms(profile, rng_b) / 1000.0
    assert await emulate(LatencyProfile(median_ms=0), rng_a) == 0.0
