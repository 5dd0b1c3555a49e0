"""Metrics label every request by a route template, with a bounded label set."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from starlette.routing import Route

from tiered.app import create_app
from tiered.observability.metrics import UNMATCHED_ROUTE, RouteTemplates
from tiered.settings import AppSettings
from tiered.testing import app_client

markets = APIRouter()


@markets.get("/markets/{market_id}")
async def read_market(market_id: str) -> dict[str, str]:
    return {"id": market_id}


@markets.post("/markets/import")
async def import_markets(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


api = APIRouter(prefix="/api")
api.include_router(markets, prefix="/v1")

SAMPLE = re.compile(
    r'^http_requests_total\{method="([^"]*)",route="([^"]*)",status="(\d+)"\} (\S+)$'
)


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = AppSettings(database_url=sqlite_url, max_body_bytes=1000)
    app = create_app(settings, title="t", routers=[api])
    async with app_client(app) as client:
        yield client


async def counted(client: httpx.AsyncClient) -> dict[tuple[str, str, str], float]:
    text = (await client.get("/metrics")).text
    samples = (SAMPLE.match(line) for line in text.splitlines())
    return {
        (match[1], match[2], match[3]): float(match[4]) for match in samples if match is not None
    }


async def test_routes_of_included_routers_carry_their_full_template(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/api/v1/markets/abc")
    await client.get("/api/v1/markets/def")

    assert (await counted(client))[("GET", "/api/v1/markets/{market_id}", "200")] == 2


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/openapi.json", "/openapi.json"),
        ("/docs", "/docs"),
        ("/redoc", "/redoc"),
        ("/_docs-assets/swagger-ui.css", "/_docs-assets/{path}"),
        ("/_docs-assets/swagger-ui-bundle.js", "/_docs-assets/{path}"),
        ("/_docs-assets/redoc.standalone.js", "/_docs-assets/redoc.standalone.js"),
        ("/problems/not-found", "/problems/{slug}"),
        ("/health/live", "/health/live"),
    ],
)
async def test_every_served_path_has_its_template(
    client: httpx.AsyncClient, path: str, template: str
) -> None:
    assert (await client.get(path)).status_code == 200

    assert ("GET", template, "200") in await counted(client)


async def test_a_response_before_routing_is_labelled_by_its_target_route(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/markets/import", content=b"x" * 5000)

    assert response.status_code == 413
    assert ("POST", "/api/v1/markets/import", "413") in await counted(client)


async def test_unknown_paths_and_methods_keep_the_label_set_bounded(
    client: httpx.AsyncClient,
) -> None:
    for index in range(5):
        await client.get(f"/scan-{index}")
        await client.request(f"BREW{index}", "/health/live")

    samples = await counted(client)
    assert samples[("GET", UNMATCHED_ROUTE, "404")] == 5
    assert samples[("<other>", "/health/live", "405")] == 5
    assert not [key for key in samples if "scan" in key[1] or "BREW" in key[0]]


def test_path_cache_is_bounded() -> None:
    async def endpoint(request: Request) -> None:  # pragma: no cover
        raise AssertionError

    app = FastAPI()
    app.router.routes.append(Route("/files/{name}", endpoint))
    templates = RouteTemplates(max_cached_paths=3)

    labels = [
        templates.of({"type": "http", "app": app, "method": "GET", "path": f"/files/{index}"})
        for index in range(10)
    ]

    assert labels == ["/files/{name}"] * 10
    assert templates.cached_paths == 3


def test_without_an_app_the_routed_template_is_used() -> None:
    async def endpoint(request: Request) -> None:  # pragma: no cover
        raise AssertionError

    route = Route("/things/{thing_id}", endpoint)
    templates = RouteTemplates()

    assert templates.of({"type": "http", "method": "GET", "path": "/things/1", "route": route}) == (
        "/things/{thing_id}"
    )
    assert templates.of({"type": "http", "method": "GET", "path": "/x"}) == UNMATCHED_ROUTE


async def test_routes_added_after_the_first_request_are_labelled(sqlite_url: str) -> None:
    app = create_app(AppSettings(database_url=sqlite_url), title="t")
    async with app_client(app) as client:
        await client.get("/health/live")
        late = APIRouter()

        @late.get("/late/{item}")
        async def late_route(item: str) -> dict[str, str]:
            return {"item": item}

        app.include_router(late, prefix="/v2")
        assert (await client.get("/v2/late/1")).status_code == 200

        assert ("GET", "/v2/late/{item}", "200") in await counted(client)


def test_series_handles_stay_bounded_and_counts_stay_exact() -> None:
    from tiered.observability.metrics import _MAX_SERIES, HttpMetrics

    metrics = HttpMetrics()
    for index in range(_MAX_SERIES + 10):
        metrics.observe(f"M{index}", "/r", 200, 0.001)
    metrics.observe("GET", "/r", 200, 0.001)
    metrics.observe("GET", "/r", 200, 0.001)
    assert len(metrics._series) <= _MAX_SERIES
    text = metrics.render().decode()
    assert 'http_requests_total{method="<other>",route="/r",status="200"} 4106.0' in text
    assert 'http_requests_total{method="GET",route="/r",status="200"} 2.0' in text


def test_duration_histogram_buckets_are_cumulative_and_inclusive() -> None:
    from tiered.observability.metrics import HttpMetrics

    metrics = HttpMetrics()
    for seconds in (0.0005, 0.001, 0.003, 20.0):
        metrics.observe("GET", "/x", 200, seconds)
    text = metrics.render().decode()
    series = 'http_request_duration_seconds_{}{{{}method="GET",route="/x"}} {}'
    assert series.format("bucket", 'le="0.001",', "2.0") in text  # an edge counts as within
    assert series.format("bucket", 'le="0.005",', "3.0") in text
    assert series.format("bucket", 'le="10.0",', "3.0") in text
    assert series.format("bucket", 'le="+Inf",', "4.0") in text
    assert series.format("count", "", "4.0") in text
    assert series.format("sum", "", "20.0045") in text
