"""Quantile maths: the one exact-percentile helper (numpy) and PromQL's histogram_quantile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

QS: tuple[float, ...] = (50.0, 95.0, 99.0)
"""The percentiles every report shows."""
METHOD: Final = "linear"
"""numpy's default interpolation (Hyndman-Fan type 7): every exact percentile in ResearchOps uses it."""

Samples = Sequence[float] | np.ndarray


def percentiles(samples: Samples, qs: Sequence[float] = QS) -> list[float | None]:
    """The exact ``qs``-th percentiles of ``samples``; one None per ``q`` when there are none.

    >>> percentiles([1.0, 2.0, 3.0, 4.0], (50, 100))
    [2.5, 4.0]
    >>> percentiles([], (50, 99))
    [None, None]
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return [None for _ in qs]
    return [float(v) for v in np.percentile(x, qs, method=METHOD)]


def percentile(samples: Samples, q: float) -> float | None:
    """The exact ``q``-th percentile (None for no samples).

    >>> percentile([1.0, 2.0, 3.0], 50)
    2.0
    """
    return percentiles(samples, (q,))[0]


def histogram_quantile(
    q: float, bounds: Sequence[float] | np.ndarray, cumulative: Sequence[float] | np.ndarray
) -> float | None:
    """Estimate quantile ``q`` from cumulative bucket counts, exactly as PromQL's histogram_quantile.

    ``bounds`` are upper bounds ending with ``inf``. Linear interpolation inside the bucket holding
    the rank; a rank in the ``+Inf`` bucket returns the highest finite bound. None without data.

    >>> round(histogram_quantile(0.5, [0.1, 0.2, float("inf")], [0, 10, 10]), 6)
    0.15
    """
    total = cumulative[-1] if len(cumulative) else 0
    if len(bounds) < 2 or total <= 0:
        return None
    rank = q * total
    b = int(np.searchsorted(np.asarray(cumulative), rank, side="left"))
    if b >= len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end, count = 0.0, float(bounds[b]), float(cumulative[b])
    if b > 0:
        start = float(bounds[b - 1])
        count -= cumulative[b - 1]
        rank -= cumulative[b - 1]
    return start + (end - start) * (rank / count)


def binned_quantiles(samples: np.ndarray, bounds: np.ndarray, qs: Sequence[float] = QS) -> list[float | None]:
    """Bin ``samples`` into ``bounds`` (ending with ``inf``) and estimate the ``qs``-th percentiles
    like histogram_quantile: the error a Prometheus chart shows by bucket resolution alone.

    >>> est = binned_quantiles(np.array([0.12, 0.18]), np.array([0.1, 0.2, np.inf]), (50, 100))
    >>> [round(float(v), 6) for v in est if v is not None]
    [0.15, 0.2]
    """
    cum = np.cumsum(np.bincount(np.searchsorted(bounds, samples, side="left"), minlength=bounds.size))
    return [histogram_quantile(q / 100, bounds, cum) for q in qs]
