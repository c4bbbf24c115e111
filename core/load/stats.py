"""Statistics for load reports: bootstrap confidence intervals of percentiles, and ratios."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.metrics.quantiles import METHOD, percentiles

BOOT_CHUNK = 50


def bootstrap_ci(
    samples: Sequence[float] | np.ndarray,
    q: float,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    max_samples: int = 20_000,
) -> tuple[float, float] | None:
    """Percentile-bootstrap ``1 - alpha`` interval of the ``q``-th percentile of ``samples``.

    Larger sample sets are first thinned to ``max_samples`` (a seeded random subset), which keeps
    the cost bounded and barely changes the interval. None for fewer than 2 samples.

    >>> lo, hi = bootstrap_ci(np.arange(1000.0), 50, seed=1)
    >>> lo < 499.5 < hi
    True
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    if x.size > max_samples:
        x = rng.choice(x, max_samples, replace=False)
    stats = np.empty(n_boot)
    for start in range(0, n_boot, BOOT_CHUNK):
        k = min(BOOT_CHUNK, n_boot - start)
        idx = rng.integers(0, x.size, size=(k, x.size))
        # one row per resample, vectorised: the only percentile not taken by ``percentiles``
        stats[start : start + k] = np.percentile(x[idx], q, axis=1, method=METHOD)
    lo, hi = percentiles(stats, (100 * alpha / 2, 100 * (1 - alpha / 2)))
    assert lo is not None and hi is not None  # n_boot > 0 resamples
    return lo, hi


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, None when either is missing or ``b`` is zero.

    >>> ratio(10.0, 4.0)
    2.5
    """
    if a is None or b is None or b == 0:
        return None
    return a / b
