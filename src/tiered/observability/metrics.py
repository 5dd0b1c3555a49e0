"""Prometheus metrics for HTTP traffic, one registry per application.

A registry per app (rather than the process-global default) lets tests and
multi-app processes build apps repeatedly without duplicate-metric errors.

Requests are labelled by route *template* (``/api/v1/markets/{market_id}``),
never by raw path, so the number of series stays bounded whatever clients
send: a path that no route would serve is ``<unmatched>``, and an unknown
method is ``<other>``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from itertools import accumulate

from fastapi.routing import RouteContext, iter_route_contexts
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

__all__ = ["UNMATCHED_ROUTE", "HttpMetrics", "RouteTemplates", "metrics_endpoint"]

UNMATCHED_ROUTE = "<unmatched>"
OTHER_METHOD = "<other>"
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "QUERY")
)
_MAX_SERIES = 4096
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BOUNDS = (*(str(bound) for bound in _BUCKETS), "+Inf")


class RouteTemplates:
    """The template of the route that served a request, or would have served it.

    A routed request names its route in the scope; the route's template is
    looked up by identity, because a route inside an included router carries
    its path *without* the include prefix (the flattened route contexts have
    the full one). A response produced before routing (a 413 from the body
    limit) or by a route that does not name itself (``/openapi.json``, a
    static mount) is matched against the app's routes as the router would,
    and the answer is cached per method and path in a bounded LRU, so repeated
    asset and scanner paths cost one dictionary lookup.

    The tables are built on first use and rebuilt when routing names a route
    they do not know (one added after the first request).
    """

    def __init__(self, *, max_cached_paths: int = 4096) -> None:
        self.max_cached_paths = max_cached_paths
        self._routes: list[tuple[RouteContext, str]] = []
        self._by_route: dict[int, str | None] = {}
        self._unknown: set[int] = set()
        self._by_path: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._built_for: object = None

    @property
    def cached_paths(self) -> int:
        return len(self._by_path)

    def of(self, scope: Scope) -> str:
        app = scope.get("app")
        route = scope.get("route")
        if app is self._built_for and route is not None:
            known = self._by_route.get(id(route))
            if known is not None:
                return known
        return self._of(scope, app, route)

    def _of(self, scope: Scope, app: object, route: object) -> str:
        app_routes: Iterable[BaseRoute] | None = getattr(app, "routes", None)
        if app_routes is None:
            path = getattr(route, "path_format", None)
            return path if isinstance(path, str) else UNMATCHED_ROUTE
        if self._built_for is not app:
            self._build(app, app_routes)
        if route is not None:
            key = id(route)
            if key not in self._by_route and key not in self._unknown:
                self._build(app, app_routes)
                if key not in self._by_route:
                    self._unknown.add(key)
            template = self._by_route.get(key)
            if template is not None:
                return template
        return self._match(scope)

    def _build(self, app: object, app_routes: Iterable[BaseRoute]) -> None:
        routes: list[tuple[RouteContext, str]] = []
        by_route: dict[int, str | None] = {}
        for context in iter_route_contexts(list(app_routes)):
            template = context.path_format
            if not isinstance(template, str):
                continue
            routes.append((context, template))
            key = id(context.original_route)
            by_route[key] = template if by_route.get(key, template) == template else None
        self._routes = routes
        self._by_route = by_route
        self._by_path.clear()
        self._built_for = app

    def _match(self, scope: Scope) -> str:
        key = (scope["method"], scope["path"])
        cached = self._by_path.get(key)
        if cached is not None:
            self._by_path.move_to_end(key)
            return cached
        # A mount moves its prefix into ``root_path``; ``app_root_path`` keeps the app's.
        probe = {
            "type": "http",
            "method": scope["method"],
            "path": scope["path"],
            "root_path": scope.get("app_root_path", scope.get("root_path", "")),
        }
        template = UNMATCHED_ROUTE
        partial: str | None = None
        for route, route_template in self._routes:
            match, _ = route.matches(probe)
            if match is Match.FULL:
                template = route_template
                break
            if match is Match.PARTIAL and partial is None:
                partial = route_template
        else:
            template = partial or UNMATCHED_ROUTE
        self._by_path[key] = template
        if len(self._by_path) > self.max_cached_paths:
            self._by_path.popitem(last=False)
        return template


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class _Histogram:
    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0


class _HttpTallies:
    """Request counts and durations as plain numbers, turned into metrics when scraped.

    ``prometheus_client``'s own metrics take a lock and validate their labels on
    every observation; here an observation is three additions and a ``bisect``.
    It runs on the event loop only (the middleware calls it), so nothing races.
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], _Counter] = {}
        self.durations: dict[tuple[str, str], _Histogram] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests",
            "HTTP requests by method, route template and status.",
            labels=("method", "route", "status"),
        )
        for labels, counter in self.requests.items():
            requests.add_metric(labels, counter.value)
        yield requests
        durations = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time to produce the full response, by method and route template.",
            labels=("method", "route"),
        )
        for route_labels, histogram in self.durations.items():
            buckets = list(zip(_BOUNDS, accumulate(histogram.buckets), strict=True))
            durations.add_metric(route_labels, buckets, histogram.total)
        yield durations


Series = tuple[_Counter, _Histogram]
"""The request counter and the duration histogram of one (method, route, status)."""


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.routes = RouteTemplates()
        self._tallies = _HttpTallies()
        self.registry.register(self._tallies)
        self._series: dict[tuple[str, str, int], Series] = {}
        self._series_by_route: dict[tuple[int, str, int], Series] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            series = self._series_of(method, route, status)
        self._count(series, seconds)

    def observe_request(self, scope: Scope, status: int, seconds: float) -> None:
        """Count a finished request under its route template (see :class:`RouteTemplates`).

        A routed request finds its series by the route object that served it,
        without looking its template up again.
        """
        route = scope.get("route")
        key = (id(route), scope["method"], status)  # routes compare by value: no hash
        series = None if route is None else self._series_by_route.get(key)
        if series is None:
            series = self._series_of(scope["method"], self.routes.of(scope), status)
            if route is not None:
                if len(self._series_by_route) >= _MAX_SERIES:
                    self._series_by_route.clear()
                self._series_by_route[key] = series
        self._count(series, seconds)

    def _count(self, series: Series, seconds: float) -> None:
        counter, histogram = series
        counter.value += 1
        histogram.total += seconds
        histogram.buckets[bisect_left(_BUCKETS, seconds)] += 1

    def _series_of(self, method: str, route: str, status: int) -> Series:
        """The series of one (method, route, status), resolved once, then kept.

        Keys are bounded: unknown methods share one label and routes are
        templates; the cache is cleared rather than grown past its bound.
        """
        series = self._series.get((method, route, status))
        if series is not None:
            return series
        label = method if method in _METHODS else OTHER_METHOD
        histogram = self._tallies.durations.setdefault((label, route), _Histogram())
        counter = self._tallies.requests.setdefault((label, route, str(status)), _Counter())
        series = (counter, histogram)
        if len(self._series) >= _MAX_SERIES:
            self._series.clear()
        self._series[(method, route, status)] = series
        return series

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def metrics_endpoint(request: Request) -> Response:
    metrics: HttpMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
