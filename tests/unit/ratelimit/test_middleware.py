"""The middleware through a real ``create_app`` app: headers, the 429, HEAD, exemptions."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from fastapi import FastAPI
from tests.unit.ratelimit.conftest import freeze, raw, serving

from tiered.ratelimit import QUOTA_EXCEEDED_TYPE


async def test_an_admitted_response_carries_each_field_once(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    clock = freeze(app)
    async with serving(app) as client:
        http = client()
        first = await http.get("/ping")
        clock.advance(1)
        second = await http.get("/ping")
    assert first.status_code == 200
    assert raw(first, b"ratelimit-policy") == [b'"default";q=5;w=60']
    assert raw(first, b"ratelimit") == [b'"default";r=4;t=12']
    assert raw(second, b"ratelimit") == [b'"default";r=3;t=23']


async def test_a_route_policy_and_the_default_share_one_field_each(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    freeze(app)
    async with serving(app) as client:
        http = client()
        first = await http.post("/login")
        second = await http.post("/login")
    assert raw(first, b"ratelimit-policy") == [b'"default";q=5;w=60, "auth";q=2;w=60']
    assert raw(first, b"ratelimit") == [b'"auth";r=1;t=30']
    assert raw(second, b"ratelimit") == [b'"auth";r=0;t=60'], "the quota closest to exhaustion"
    assert raw(second, b"ratelimit-policy") == [b'"default";q=5;w=60, "auth";q=2;w=60']


async def test_the_429_problem(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    clock = freeze(app)
    async with serving(app) as client:
        http = client()
        for _ in range(2):
            assert (await http.post("/login")).status_code == 200
        clock.advance(1)
        refused = await http.post("/login", content=b'{"user": "a"}')
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert raw(refused, b"retry-after") == [b"29"]
    assert raw(refused, b"ratelimit") == [b'"auth";r=0;t=59']
    assert raw(refused, b"ratelimit-policy") == [b'"default";q=5;w=60, "auth";q=2;w=60']
    assert refused.headers["x-content-type-options"] == "nosniff", "security headers still apply"
    body = orjson.loads(refused.content)
    assert body == {
        "type": QUOTA_EXCEEDED_TYPE,
        "title": "Quota Exceeded",
        "status": 429,
        "detail": "Too many requests: quota auth; retry after 29 s.",
        "instance": "/login",
        "code": "RATE_LIMITED",
        "request_id": refused.headers["x-request-id"],
        "violated-policies": ["auth"],
    }
    assert int(refused.headers["content-length"]) == len(refused.content)


async def test_the_default_quota_limits_every_route_and_refusals_cost_nothing(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    freeze(app)
    async with serving(app) as client:
        http = client()
        statuses = [(await http.get("/ping")).status_code for _ in range(5)]
        refused = await http.get("/nowhere")
        login = await http.post("/login")
    assert statuses == [200] * 5
    assert refused.status_code == 429, "unknown paths count too"
    assert login.status_code == 429
    assert orjson.loads(login.content)["violated-policies"] == ["default"]


async def test_a_head_request_is_charged_once(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    freeze(app)
    async with serving(app) as client:
        http = client()
        head = await http.head("/ping")
        get = await http.get("/ping")
    assert head.status_code == 200
    assert raw(head, b"ratelimit") == [b'"default";r=4;t=12']
    assert raw(get, b"ratelimit") == [b'"default";r=3;t=24']


async def test_probes_and_metrics_are_not_limited(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit_default="1/hour")
    async with serving(app) as client:
        http = client()
        probes = [(await http.get("/health/live")).status_code for _ in range(5)]
        assert (await http.get("/ping")).status_code == 200
        assert (await http.get("/ping")).status_code == 429
        metrics = await http.get("/metrics")
    assert probes == [200] * 5
    assert metrics.status_code == 200
    assert "ratelimit" not in metrics.headers
    assert 'rate_limit_decisions_total{outcome="allowed"} 1.0' in metrics.text
    assert 'rate_limit_decisions_total{outcome="limited"} 1.0' in metrics.text


async def test_clients_are_limited_separately(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit_default="1/hour")
    async with serving(app) as client:
        assert (await client("198.51.100.7").get("/ping")).status_code == 200
        assert (await client("198.51.100.7").get("/ping")).status_code == 429
        assert (await client("198.51.100.8").get("/ping")).status_code == 200
        assert (await client("2001:db8:0:1::1").get("/ping")).status_code == 200
        assert (await client("2001:db8:0:1::2").get("/ping")).status_code == 429, "same /64"
        assert (await client("2001:db8:0:2::1").get("/ping")).status_code == 200


async def test_a_path_template_policy_applies_to_each_of_its_paths(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    async with serving(app) as client:
        http = client()
        statuses = [(await http.get(f"/search/{n}")).status_code for n in range(4)]
        ping = await http.get("/ping")
    assert statuses == [200, 200, 200, 429]
    assert ping.status_code == 200
    assert raw(ping, b"ratelimit-policy") == [b'"default";q=5;w=60']


async def test_refused_body_is_problem_json_for_head_too(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(rate_limit_default="1/hour")
    async with serving(app) as client:
        http = client()
        await http.get("/ping")
        head = await http.head("/ping")
    assert head.status_code == 429
    assert head.content == b""
    assert raw(head, b"retry-after")


async def test_the_problem_type_is_documented_under_problems(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    async with serving(app) as client:
        page = await client().get(
            "/problems/quota-exceeded", headers={"Accept": "application/json"}
        )
    assert page.status_code == 200
    described = page.json()
    assert (described["status"], described["code"]) == (429, "RATE_LIMITED")
    assert QUOTA_EXCEEDED_TYPE in described["description"]


async def test_browsers_may_read_the_fields_cross_origin(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(cors_origins=["https://app.example"])
    async with serving(app) as client:
        response = await client().get("/ping", headers={"Origin": "https://app.example"})
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "ratelimit" in exposed.split(", ")
    assert "ratelimit-policy" in exposed.split(", ")
