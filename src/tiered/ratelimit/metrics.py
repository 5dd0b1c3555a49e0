"""Rate-limit decisions in the application's Prometheus registry (``/metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from tiered.ratelimit.decision import Outcome

__all__ = ["RateLimitMetrics"]


class RateLimitMetrics(Collector):
    """``rate_limit_decisions_total{outcome}``: allowed, limited, failed_open, failed_closed.

    Counted in plain integers and read when ``/metrics`` is scraped: a
    ``prometheus_client.Counter`` takes a lock on every increment, which is a
    measurable share of a check that runs on every request. The counts are
    only ever incremented on the event loop's thread.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.counts = dict.fromkeys(Outcome, 0)
        if registry is not None:
            registry.register(self)

    def count(self, outcome: Outcome) -> None:
        self.counts[outcome] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "rate_limit_decisions",
            "Rate-limit decisions by outcome (failed_*: the store could not be asked).",
            labels=("outcome",),
        )
        for outcome, value in self.counts.items():
            family.add_metric((outcome.value,), value)
        yield family
