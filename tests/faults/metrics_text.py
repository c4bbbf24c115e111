"""Read one counter out of a Prometheus exposition (the API's ``/metrics``)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def counter(text: str, name: str, **labels: str) -> float:
    """Sum of ``name`` samples whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total
