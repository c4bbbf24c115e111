"""Quantile maths: the one exact-percentile helper and PromQL's histogram_quantile."""

from __future__ import annotations

import numpy as np
import pytest

from core.load.stats import bootstrap_ci
from core.load.timeline import percentiles_ms
from core.metrics.quantiles import histogram_quantile, percentile, percentiles


def test_percentiles_are_numpy_linear_and_none_without_samples() -> None:
    x = np.random.default_rng(3).lognormal(-3, 1, 999)
    assert percentiles(x, (50, 95, 99)) == list(np.percentile(x, [50, 95, 99]))
    assert percentiles(list(x), (0, 100)) == [x.min(), x.max()]
    assert percentile([1.0, 2.0, 3.0, 4.0], 25) == 1.75  # linear: between the 1st and 2nd sample
    assert percentiles([], (50, 99)) == [None, None] and percentile([], 50) is None


def test_load_reports_use_the_same_percentiles() -> None:
    lat = np.random.default_rng(4).uniform(0.001, 0.5, 400)
    ms = percentiles(lat * 1000.0, (50, 95, 99))
    assert percentiles_ms(lat) == [round(v, 3) for v in ms if v is not None]
    assert percentiles_ms([]) == [None, None, None]
    lo, hi = bootstrap_ci(lat, 95, seed=2) or (None, None)
    assert lo is not None and hi is not None and lo < np.percentile(lat, 95) < hi


def test_histogram_quantile_follows_promql_rules() -> None:
    inf = float("inf")
    assert histogram_quantile(0.5, [0.1, 0.2, inf], [0, 10, 10]) == pytest.approx(0.15)
    assert histogram_quantile(0.25, [0.1, 0.2, inf], [4, 8, 8]) == pytest.approx(0.05)  # first bucket from 0
    assert histogram_quantile(0.99, [0.1, 0.2, inf], [1, 2, 100]) == 0.2  # +Inf bucket: highest finite bound
    assert histogram_quantile(0.5, [0.1, inf], [0, 0]) is None
