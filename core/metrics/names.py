"""The metric vocabulary both sinks share: histogram buckets, run statuses, cache events."""

from __future__ import annotations

BUCKETS: tuple[float, ...] = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0,
)  # fmt: skip
"""Histogram upper bounds in seconds (1 ms .. 30 s, 1-2-5 steps); ``+Inf`` is implicit."""
CACHE_EVENTS = frozenset({"hit", "miss", "error", "eviction", "corrupt"})
"""``corrupt``: an L2 entry that failed to decode or validate (dropped and recomputed)."""
DEGRADED_COMPONENTS = ("settings", "cache", "queue", "store")
"""Labels of ``researchops_degraded_total``: the shared backends that can fall back."""
RUN_STATUSES = ("ok", "partial", "error")
COALESCE_LEVELS = ("result", "node")
"""Labels of ``researchops_coalesced_total``: a whole result or one node's writes shared in flight."""
PREFIX = "researchops_"
"""Every exported series name starts with it."""
