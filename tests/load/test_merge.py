"""Merging per-process timelines: exact counts, HdrHistogram percentiles within 3 significant digits."""

from __future__ import annotations

import numpy as np

from core.load.merge import merge_entries, merge_summaries
from core.load.outcome import Outcome
from core.load.timeline import Recorder


def _recorder(latencies: np.ndarray, rejected: int, errors: int) -> Recorder:
    rec = Recorder(hdr=True)
    rec.start()
    for lat in latencies:
        rec.issue()
        rec.record(Outcome("ok", float(lat), cached=bool(lat < 0.05)))
    for _ in range(rejected):
        rec.issue()
        rec.record(Outcome("rejected", 0.001))
    for _ in range(errors):
        rec.issue()
        rec.record(Outcome("cancelled", 1.0, error="cancelled"))
    return rec


def test_merged_second_and_summary_have_exact_counts_and_hdr_percentiles() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.lognormal(-2, 1, 4000), rng.lognormal(-1, 0.5, 2500), rng.lognormal(-3, 1.5, 700)]
    recs = [_recorder(p, rejected=i, errors=2 * i) for i, p in enumerate(parts)]
    entries = [r.tick() for r in recs]
    merged = merge_entries(entries)
    union_ms = np.concatenate(parts) * 1000
    assert merged["issued"] == sum(len(p) + 3 * i for i, p in enumerate(parts))
    assert merged["completed"] == len(union_ms) and merged["rejected"] == 3 and merged["errors"] == 6
    assert merged["completed"] + merged["errors"] + merged["rejected"] == merged["issued"]
    assert merged["processes"] == 3 and "hdr" in entries[0]
    for q in (50, 95, 99):
        exact = float(np.percentile(union_ms, q, method="inverted_cdf"))  # nearest rank, as HDR
        assert abs(merged[f"p{q}_ms"] - exact) <= exact * 1e-3 + 1e-3, (q, merged[f"p{q}_ms"], exact)
    assert merged["hit_rate"] == round(merged["hits"] / merged["completed"], 4)

    s = merge_summaries([r.summary() for r in recs])
    assert (s["issued"], s["completed"], s["errors"], s["rejected"], s["cancelled"]) == (
        merged["issued"],
        merged["completed"],
        6,
        3,
        6,
    )
    exact95 = float(np.percentile(union_ms, 95, method="inverted_cdf"))
    assert abs(s["p95_ms"] - exact95) <= exact95 * 1e-3 + 1e-3
    assert s["processes"] == 3 and "3 significant digits" in s["percentiles"]
    assert s["result_hits"] == sum(int((p < 0.05).sum()) for p in parts)
