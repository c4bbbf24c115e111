"""The per-second timeline and the final summary of a load run.

Counting rules (they make ``completed + errors + rejected == issued`` hold at the end of every run):

* a request is **issued** when the runner hands it to the target;
* it ends as exactly one of **completed** (an answer, possibly partial), **errors** (the target
  failed, or the run gave up on it: those are also counted in **cancelled**, a subset of errors)
  or **rejected** (admission control refused it: overloaded);
* at the deadline the runner stops issuing and waits at most ``drain_s`` for requests in flight;
  what is still running then is cancelled and counted as errors (``cancelled``).

Timeline entry ``t`` covers the second ``(t-1, t]`` since the start; latencies are of the requests
that *finished* in that second, percentiles exact (numpy) over them. The last entry may cover less
than a second (``span_s``). ``coalesced`` counts requests that shared another's run (singleflight).

With ``hdr=True`` (a process of a multi-process burst) each entry and the summary also carry the
latencies as an encoded HdrHistogram (``hdr``, microseconds, 3 significant digits), which
``core.load.merge`` adds across processes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil
from hdrh.histogram import HdrHistogram

from core.load.outcome import Outcome
from core.metrics.quantiles import percentiles


def percentiles_ms(
    latencies_s: list[float] | np.ndarray, qs: tuple[float, ...] = (50, 95, 99)
) -> list[float | None]:
    """Exact percentiles in milliseconds (None for no samples).

    >>> percentiles_ms([0.001, 0.002, 0.003], (50,))
    [2.0]
    """
    ms = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    return [None if v is None else round(v, 3) for v in percentiles(ms, qs)]


HDR_MAX_US = 3_600_000_000
HDR_DIGITS = 3
"""HdrHistogram range (1 us .. 1 h) and precision: values are kept to 3 significant digits (0.1%)."""


def new_hdr() -> HdrHistogram:
    return HdrHistogram(1, HDR_MAX_US, HDR_DIGITS)


def hdr_record(h: HdrHistogram, latency_s: float) -> None:
    h.record_value(min(max(int(latency_s * 1e6), 1), HDR_MAX_US))


class _Bucket:
    __slots__ = ("cached", "completed", "errors", "hdr", "hits", "issued", "latencies", "rejected")

    def __init__(self, hdr: bool = False) -> None:
        self.issued = self.completed = self.errors = self.rejected = self.hits = self.cached = 0
        self.latencies: list[float] = []
        self.hdr = new_hdr() if hdr else None


class Recorder:
    """Collects outcomes; ``tick()`` closes one second of the timeline; ``summary()`` ends the run.

    >>> r = Recorder(); r.issue(); r.record(Outcome("ok", 0.01)); r.summary()["completed"]
    1
    """

    def __init__(
        self,
        *,
        on_tick: Callable[[dict[str, Any]], None] | None = None,
        keep: bool = False,
        hdr: bool = False,
    ) -> None:
        self.hdr = new_hdr() if hdr else None
        self.coalesced_source: Callable[[], int] | None = None
        """Cumulative count of coalesced requests (the target's); entries show its per-second delta."""
        self._coalesced_at = self._coalesced0 = 0
        self.t0 = time.perf_counter()
        self.wall_t0 = time.time()
        self.on_tick = on_tick
        self.keep = keep
        self.outcomes: list[Outcome] = []
        self.timeline: list[dict[str, Any]] = []
        self.issued = self.completed = self.errors = self.rejected = self.cancelled = 0
        self.hits = self.cached = 0
        self.latencies: list[float] = []
        self.error_kinds: Counter[str] = Counter()
        self.peak_rss = 0
        self._bucket = _Bucket(hdr)
        self._last_tick = self.t0
        self._proc = psutil.Process()
        self._cpu0 = self._cpu()
        self.phase = "run"
        self.gauges: dict[str, Any] = {}
        """Extra values copied into every entry (e.g. active ``users``, target ``rate``)."""

    def start(self) -> None:
        self.t0 = self._last_tick = time.perf_counter()
        self.wall_t0 = time.time()
        self._coalesced0 = self._coalesced_at = self._coalesced_total()
        self._cpu0 = self._cpu()

    def _cpu(self) -> float:
        t = self._proc.cpu_times()
        return float(t.user + t.system)

    def _coalesced_total(self) -> int:
        return self.coalesced_source() if self.coalesced_source is not None else 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def in_flight(self) -> int:
        return self.issued - self.completed - self.errors - self.rejected

    def issue(self) -> None:
        self.issued += 1
        self._bucket.issued += 1

    def record(self, outcome: Outcome, *, issued: bool = True) -> None:
        """Count one finished request (``issued=False``: also count it as issued now, for targets
        that only report requests once they end)."""
        if not issued:
            self.issue()
        b = self._bucket
        if outcome.status == "ok":
            self.completed += 1
            b.completed += 1
            self.latencies.append(outcome.latency_s)
            b.latencies.append(outcome.latency_s)
            if b.hdr is not None and self.hdr is not None:
                hdr_record(b.hdr, outcome.latency_s)
                hdr_record(self.hdr, outcome.latency_s)
            if outcome.cached or outcome.node_hit:
                self.hits += 1
                b.hits += 1
            if outcome.cached:
                self.cached += 1
                b.cached += 1
        elif outcome.status == "rejected":
            self.rejected += 1
            b.rejected += 1
        else:
            self.errors += 1
            b.errors += 1
            if outcome.status == "cancelled":
                self.cancelled += 1
            self.error_kinds[(outcome.error or outcome.status)[:120]] += 1
        if self.keep:
            self.outcomes.append(outcome)

    def tick(self) -> dict[str, Any]:
        """Close the current second: append its entry to the timeline and return it."""
        now = time.perf_counter()
        b, self._bucket = self._bucket, _Bucket(self.hdr is not None)
        coalesced = self._coalesced_total()
        span = max(now - self._last_tick, 1e-9)
        self._last_tick = now
        rss = self._proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)
        p50, p95, p99 = percentiles_ms(b.latencies)
        entry = {
            "t": len(self.timeline) + 1,
            "wall_time": round(time.time(), 3),
            "span_s": round(span, 3),
            "phase": self.phase,
            "issued": b.issued,
            "completed": b.completed,
            "errors": b.errors,
            "rejected": b.rejected,
            "throughput": round(b.completed / span, 3),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "in_flight": self.in_flight,
            "hit_rate": round(b.hits / b.completed, 4) if b.completed else None,
            "hits": b.hits,
            "cached": b.cached,
            "coalesced": coalesced - self._coalesced_at,
            "rss_mb": round(rss / 2**20, 1),
            **self.gauges,
        }
        self._coalesced_at = coalesced
        if b.hdr is not None:
            entry["hdr"] = b.hdr.encode().decode("ascii")
        self.timeline.append(entry)
        if self.on_tick is not None:
            self.on_tick(entry)
        return entry

    def summary(self, *, emulated: bool = False, stopped_early: bool = False, **extra: Any) -> dict[str, Any]:
        """The run's totals; ``completed + errors + rejected == issued`` once nothing is in flight."""
        elapsed = max(self.elapsed(), 1e-9)
        self.peak_rss = max(self.peak_rss, self._proc.memory_info().rss)
        p50, p95, p99 = percentiles_ms(self.latencies)
        return {
            "issued": self.issued,
            "completed": self.completed,
            "errors": self.errors,
            "cancelled": self.cancelled,
            "rejected": self.rejected,
            "in_flight": self.in_flight,
            "elapsed_s": round(elapsed, 3),
            "throughput": round(self.completed / elapsed, 3),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "mean_ms": round(float(np.mean(self.latencies)) * 1000, 3) if self.latencies else None,
            "error_rate": round(self.errors / self.issued, 4) if self.issued else 0.0,
            "hit_rate": round(self.hits / self.completed, 4) if self.completed else None,
            "result_hit_rate": round(self.cached / self.completed, 4) if self.completed else None,
            "hits": self.hits,
            "result_hits": self.cached,
            "coalesced": self._coalesced_total() - self._coalesced0,
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "cpu_s": round(self._cpu() - self._cpu0, 3),
            "emulated": emulated,
            "stopped_early": stopped_early,
            "top_errors": dict(self.error_kinds.most_common(5)),
            "started_at": round(self.wall_t0, 3),
            **({"hdr": self.hdr.encode().decode("ascii")} if self.hdr is not None else {}),
            **extra,
        }
