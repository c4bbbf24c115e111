"""Emulated latency and failures drawn from a ``LatencyProfile``: model calls and remote sources share it.

The delay is an ``asyncio.sleep``, so emulated calls overlap exactly as real network calls would;
the random generator is passed in, so a seeded run is reproducible. Whatever uses it labels its
output emulated.
"""

from __future__ import annotations

import asyncio
import math
import random

from core.config import LatencyProfile

# Draws are truncated at the +4 sigma quantile (~99.997%) so one heavy-tail draw cannot stall a run
# for hours while the distribution's shape is kept.
_TAIL_SIGMAS = 4.0


def sample_ms(profile: LatencyProfile, rng: random.Random) -> float:
    """One latency draw in milliseconds: lognormal with the profile's median and sigma.

    >>> sample_ms(LatencyProfile(median_ms=200, sigma=0), random.Random(1))
    200.0
    """
    median = profile.median_ms
    if median <= 0:
        return 0.0
    if profile.sigma == 0:
        return float(median)
    value = rng.lognormvariate(math.log(median), profile.sigma)
    return min(value, median * math.exp(_TAIL_SIGMAS * profile.sigma))


def sample_s(profile: LatencyProfile, rng: random.Random) -> float:
    """One latency draw in seconds (``sample_ms`` / 1000)."""
    return sample_ms(profile, rng) / 1000.0


def fails(profile: LatencyProfile, rng: random.Random) -> bool:
    """Whether this call fails, with probability ``profile.failure_rate``.

    >>> fails(LatencyProfile(failure_rate=1.0), random.Random(1))
    True
    """
    return profile.failure_rate > 0 and rng.random() < profile.failure_rate


async def emulate(profile: LatencyProfile, rng: random.Random) -> float:
    """Sleep for one latency draw; return the emulated seconds.

    >>> asyncio.run(emulate(LatencyProfile(median_ms=1, sigma=0), random.Random(1)))
    0.001
    """
    seconds = sample_s(profile, rng)
    if seconds > 0:
        await asyncio.sleep(seconds)
    return seconds
