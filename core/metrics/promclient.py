"""Read ResearchOps metrics back from Prometheus as chart-ready time series, or fall back.

``PromClient`` wraps prometheus-api-client's ``PrometheusConnect`` with short timeouts and no
retries; it never raises: every answer carries a ``PrometheusStatus`` whose ``message`` is one line
(``Prometheus at http://host:9090: connection refused``). The dashboard reads it through
``core.metrics.source.MetricsSource``, which falls back to the embedded views.

Rates and quantiles use a window ``W`` of at least 4 scrape intervals (and 20 s), so each
``rate()`` sees several samples even when a scrape is missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

Points = list[tuple[float, float]]
"""(unix seconds, value) pairs, oldest first."""


@dataclass(frozen=True)
class PrometheusStatus:
    ok: bool
    message: str
    """One line, for a badge or a tooltip."""


@dataclass(frozen=True)
class Timeseries:
    """Chart data: one list of points per label value (``"all"`` when not split)."""

    series: dict[str, Points]
    status: PrometheusStatus
    source: str = "prometheus"
    """``prometheus`` or ``process``."""


@dataclass(frozen=True)
class Counts:
    """Instant totals: runs by status, refused runs, running and waiting workflows."""

    runs: dict[str, float] = field(default_factory=dict)
    rejected: float = 0.0
    active: float = 0.0
    queue_depth: float = 0.0
    status: PrometheusStatus = PrometheusStatus(True, "")
    source: str = "prometheus"


def rate_window(scrape_interval_s: float) -> str:
    """The PromQL range for ``rate()``: 4 scrape intervals, at least 20 s.

    >>> rate_window(5), rate_window(15)
    ('20s', '60s')
    """
    return f"{max(20, math.ceil(4 * scrape_interval_s))}s"


class PromClient:
    """PromQL queries for the dashboard's charts. Never raises; look at ``.status`` of answers.

    >>> c = PromClient("http://127.0.0.1:9090", scrape_interval_s=5)
    >>> c.window
    '20s'
    """

    def __init__(
        self,
        url: str,
        *,
        scrape_interval_s: float = 5.0,
        window: str | None = None,
        timeout_s: float = 2.0,
        matchers: str = "",
    ) -> None:
        self.url = url.rstrip("/")
        self.scrape_interval_s = scrape_interval_s
        self.window = window or rate_window(scrape_interval_s)
        self.timeout_s = min(timeout_s, 2.0)
        self.matchers = matchers
        """Extra label matchers for every selector, e.g. ``job="researchops"``."""
        # No retries: a dead server must cost one short timeout, not the library's 3 x backoff.
        self._prom = PrometheusConnect(
            url=self.url, retry=Retry(total=0), timeout=(min(1.0, self.timeout_s), self.timeout_s)
        )  # type: ignore[arg-type]

    # -- generic ---------------------------------------------------------------------------------

    def status(self) -> PrometheusStatus:
        """Whether Prometheus answers a trivial query."""
        try:
            self._prom.custom_query("vector(1)")
        except Exception as exc:
            return PrometheusStatus(False, self._describe(exc))
        return PrometheusStatus(True, f"Prometheus at {self.url}: ok")

    def range(
        self, promql: str, label: str | None, range_s: float = 300, step_s: float | None = None
    ) -> Timeseries:
        """Run a range query; split the result by ``label`` (None = one series named ``all``)."""
        end = datetime.now(UTC)
        start = datetime.fromtimestamp(end.timestamp() - range_s, UTC)
        step = f"{step_s or max(1.0, self.scrape_interval_s):g}s"
        out: dict[str, Points] = {}
        try:
            result = self._prom.custom_query_range(promql, start_time=start, end_time=end, step=step)
            for item in result:
                key = item["metric"].get(label, "") if label else "all"
                # NaN = no data in the window (e.g. 0/0); a gap, not a point
                out[key] = [(float(t), float(v)) for t, v in item["values"] if math.isfinite(float(v))]
        except Exception as exc:  # anything at all: the UI falls back, it never sees an exception
            return Timeseries({}, PrometheusStatus(False, self._describe(exc)))
        return Timeseries(out, PrometheusStatus(True, f"Prometheus at {self.url}: ok"))

    def instant(self, promql: str, label: str | None) -> tuple[dict[str, float], PrometheusStatus]:
        """Run an instant query: value per ``label`` value (``all`` when None)."""
        try:
            result = self._prom.custom_query(promql)
            out = {
                (item["metric"].get(label, "") if label else "all"): float(item["value"][1])
                for item in result
            }
        except Exception as exc:
            return {}, PrometheusStatus(False, self._describe(exc))
        return out, PrometheusStatus(True, f"Prometheus at {self.url}: ok")

    # -- the dashboard's charts ------------------------------------------------------------------

    def throughput(self, range_s: float = 300) -> Timeseries:
        """Finished runs per second."""
        return self.range(f"sum(rate(researchops_runs_total{self._sel()}[{self.window}]))", None, range_s)

    def node_latency(self, q: float, range_s: float = 300) -> Timeseries:
        """Quantile ``q`` of node durations (seconds), per node."""
        inner = (
            f"sum by (le, node) (rate(researchops_node_duration_seconds_bucket{self._sel()}[{self.window}]))"
        )
        return self.range(f"histogram_quantile({q:g}, {inner})", "node", range_s)

    def workflow_latency(self, q: float, range_s: float = 300) -> Timeseries:
        """Quantile ``q`` of whole-workflow durations (seconds)."""
        inner = (
            f"sum by (le) (rate(researchops_workflow_duration_seconds_bucket{self._sel()}[{self.window}]))"
        )
        return self.range(f"histogram_quantile({q:g}, {inner})", None, range_s)

    def cache_hit_rate(self, range_s: float = 300) -> Timeseries:
        """Hits / (hits + misses) per cache level."""
        w, hit, both = self.window, self._sel('event="hit"'), self._sel('event=~"hit|miss"')
        promql = (
            f"sum by (level) (rate(researchops_cache_events_total{hit}[{w}]))"
            f" / sum by (level) (rate(researchops_cache_events_total{both}[{w}]))"
        )
        return self.range(promql, "level", range_s)

    def error_rate(self, range_s: float = 300) -> Timeseries:
        """Fraction of finished runs with status ``error``."""
        w, errors = self.window, self._sel('status="error"')
        promql = (
            f"sum(rate(researchops_runs_total{errors}[{w}]))"
            f" / sum(rate(researchops_runs_total{self._sel()}[{w}]))"
        )
        return self.range(promql, None, range_s)

    def memory(self, range_s: float = 300) -> Timeseries:
        """Resident memory in bytes, per scraped process (``instance``)."""
        return self.range(f"process_resident_memory_bytes{self._sel()}", "instance", range_s)

    def coalesced(self, range_s: float = 300) -> Timeseries:
        """Runs per second answered by joining an identical run in flight, per level."""
        return self.range(
            f"sum by (level) (rate(researchops_coalesced_total{self._sel()}[{self.window}]))",
            "level",
            range_s,
        )

    def hit_rate_by_node(
        self, range_s: float = 300
    ) -> tuple[dict[str, dict[str, float | None]], PrometheusStatus]:
        """``{level: {node: rate}}`` over the last ``range_s`` seconds (one instant query, so the
        hits and the lookups are evaluated at the same moment)."""
        w, hit, both = f"{int(max(range_s, 60))}s", self._sel('event="hit"'), self._sel('event=~"hit|miss"')
        inc = "sum by (level, node) (increase(researchops_cache_events_total{}[{}]))"
        try:
            result = self._prom.custom_query(f"{inc.format(hit, w)} / {inc.format(both, w)}")
        except Exception as exc:
            return {}, PrometheusStatus(False, self._describe(exc))
        out: dict[str, dict[str, float | None]] = {}
        for item in result:
            v = float(item["value"][1])
            labels = item["metric"]
            out.setdefault(labels.get("level", ""), {})[labels.get("node", "")] = (
                v if math.isfinite(v) else None
            )
        return out, PrometheusStatus(True, f"Prometheus at {self.url}: ok")

    def counts(self) -> Counts:
        """Instant totals over every scraped process."""
        runs, status = self.instant(f"sum by (status) (researchops_runs_total{self._sel()})", "status")
        if not status.ok:
            return Counts(status=status)
        scalars = {}
        for name in ("rejected_total", "workflows_active", "queue_depth"):
            values, status = self.instant(f"sum(researchops_{name}{self._sel()})", None)
            if not status.ok:
                return Counts(status=status)
            scalars[name] = values.get("all", 0.0)
        return Counts(
            runs, scalars["rejected_total"], scalars["workflows_active"], scalars["queue_depth"], status
        )

    # -- internals -------------------------------------------------------------------------------

    def _sel(self, *extra: str) -> str:
        parts = [m for m in (self.matchers, *extra) if m]
        return "{" + ",".join(parts) + "}" if parts else ""

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, requests.Timeout):
            reason = f"no answer within {self.timeout_s:g}s"
        elif isinstance(exc, requests.ConnectionError):
            text = str(exc)
            reason = (
                "connection refused" if "refused" in text.lower()
                else "host not found" if "resolve" in text or "not known" in text
                else "cannot connect"
            )  # fmt: skip
        elif isinstance(exc, PrometheusApiClientException):
            reason = str(exc).splitlines()[0][:160]
        else:
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        return f"Prometheus at {self.url}: {reason}"
