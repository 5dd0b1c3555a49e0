"""Counters of cache use, for the application's ``/metrics``.

Pass one :class:`CacheMetrics` on the app's registry to every cache
(``CacheMetrics(app.state.metrics.registry)``); each cache counts under its
own ``cache`` label. A cache built without one counts on a private registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["CacheMetrics"]


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.hits = Counter(
            "cache_hits_total", "Reads served from the cache.", ("cache",), registry=self.registry
        )
        self.misses = Counter(
            "cache_misses_total",
            "Reads that found nothing and ran the loader.",
            ("cache",),
            registry=self.registry,
        )
        self.errors = Counter(
            "cache_errors_total",
            "Cache backend calls that failed (the request was served from the source).",
            ("cache", "operation"),
            registry=self.registry,
        )
        self.bypassed = Counter(
            "cache_bypassed_total",
            "Reads served from the source without trying a backend known to be down.",
            ("cache",),
            registry=self.registry,
        )
