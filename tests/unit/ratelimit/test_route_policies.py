"""``rate_limit(...)`` on routes: found by the middleware, applied alone where it is not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from tests.unit.ratelimit.conftest import freeze, limiter_of, raw, serving

from tiered.clock import FrozenClock
from tiered.errors import ConfigurationError
from tiered.ratelimit import (
    QUOTA_EXCEEDED_TYPE,
    Decision,
    MemoryRateLimitBackend,
    QuotaSet,
    RateLimiter,
    prepare_rate_limiting,
    rate_limit,
)
from tiered.settings import AppSettings


class CountingBackend(MemoryRateLimitBackend):
    def __init__(self) -> None:
        super().__init__(clock=FrozenClock())
        self.checked: list[list[str]] = []

    def check_now(self, key: str, quotas: QuotaSet) -> Decision:
        self.checked.append([quota.name for quota in quotas.quotas])
        return super().check_now(key, quotas)


async def test_one_check_covers_the_default_and_the_route_policy(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    backend = CountingBackend()
    limiter_of(app).backend = backend
    async with serving(app) as client:
        await client().post("/login")
    assert backend.checked == [["default", "auth"]]


async def test_a_router_level_declaration_is_found(make_app: Callable[..., FastAPI]) -> None:
    strict = APIRouter(prefix="/strict", dependencies=[rate_limit("auth")])

    @strict.get("/thing")
    async def thing() -> dict[str, str]:
        return {}

    app = make_app(routers=(strict,))
    backend = CountingBackend()
    limiter_of(app).backend = backend
    async with serving(app) as client:
        response = await client().get("/strict/thing")
    assert backend.checked == [["default", "auth"]]
    assert raw(response, b"ratelimit-policy") == [b'"default";q=5;w=60, "auth";q=2;w=60']


async def test_a_route_added_after_the_first_request_is_still_limited(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    backend = CountingBackend()
    limiter_of(app).backend = backend
    async with serving(app) as client:
        http = client()
        await http.get("/ping")

        @app.post("/late", dependencies=[rate_limit("auth")])
        async def late() -> dict[str, str]:
            return {}

        first = await http.post("/late")
        second = await http.post("/late")
        third = await http.post("/late")
    both = ["default", "auth"]
    assert backend.checked == [["default"], ["default"], ["auth"], both, both]
    assert raw(first, b"ratelimit-policy") == [b'"default";q=5;w=60, "auth";q=2;w=60']
    assert raw(first, b"ratelimit") == [b'"auth";r=1;t=30']
    assert second.status_code == 200
    assert third.status_code == 429
    assert orjson.loads(third.content)["type"] == QUOTA_EXCEEDED_TYPE


async def test_a_route_refusal_from_the_dependency_is_the_same_429(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(rate_limit_auth="1/hour")
    freeze(app)
    async with serving(app) as client:
        http = client()
        await http.get("/ping")

        @app.post("/late", dependencies=[rate_limit("auth")])
        async def late() -> dict[str, str]:
            return {}

        assert (await http.post("/late")).status_code == 200
        limiter_of(app).on_routes_changed.clear()  # keep the middleware blind to /late
        refused = await http.post("/late")
    assert refused.status_code == 429
    body = orjson.loads(refused.content)
    assert body["type"] == QUOTA_EXCEEDED_TYPE
    assert body["violated-policies"] == ["auth"]
    assert body["request_id"] == refused.headers["x-request-id"]
    assert raw(refused, b"ratelimit-policy") == [b'"default";q=5;w=60, "auth";q=1;w=3600']
    assert raw(refused, b"ratelimit") == [b'"auth";r=0;t=3600']
    assert raw(refused, b"retry-after") == [b"3600"]


async def test_without_the_middleware_the_dependency_limits_alone() -> None:
    app = FastAPI()
    limiter = RateLimiter(
        {"default": "5/minute", "auth": "1/minute"}, MemoryRateLimitBackend(clock=FrozenClock())
    )

    @app.post("/login", dependencies=[rate_limit("auth")])
    async def login() -> dict[str, str]:
        return {}

    prepare_rate_limiting(app, limiter)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        admitted = await http.post("/login")
        refused = await http.post("/login")
    assert raw(admitted, b"ratelimit-policy") == [b'"auth";q=1;w=60']
    assert raw(admitted, b"ratelimit") == [b'"auth";r=0;t=60']
    assert refused.status_code == 429
    assert orjson.loads(refused.content)["type"] == QUOTA_EXCEEDED_TYPE
    assert raw(refused, b"ratelimit") == [b'"auth";r=0;t=60']


async def test_without_any_limiter_the_dependency_refuses_to_pass_silently() -> None:
    app = FastAPI()

    @app.post("/login", dependencies=[rate_limit("auth")])
    async def login() -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with pytest.raises(ConfigurationError, match=r"rate_limit\('auth'\) needs a RateLimiter"):
            await http.post("/login")


@pytest.mark.parametrize("enabled", [True, False])
def test_an_unknown_policy_fails_at_create_app(
    make_app: Callable[..., FastAPI], enabled: bool
) -> None:
    typo = APIRouter()

    @typo.post("/x", dependencies=[rate_limit("atuh")])
    async def x() -> None:
        return None

    with pytest.raises(ConfigurationError, match="unknown rate-limit policy 'atuh'"):
        make_app(routers=(typo,), rate_limit_enabled=enabled)


def test_rate_limit_needs_a_policy() -> None:
    with pytest.raises(ValueError, match="at least one policy"):
        rate_limit()


async def test_switched_off_nothing_is_limited_nor_announced(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(rate_limit_enabled=False, rate_limit_default="1/hour")
    assert app.state.rate_limiter is None
    async with serving(app) as client:
        http = client()
        responses = [await http.post("/login") for _ in range(3)]
    assert [response.status_code for response in responses] == [200] * 3
    assert all("ratelimit" not in response.headers for response in responses)
    paths = app.openapi()["paths"]
    assert "429" not in paths["/login"]["post"]["responses"]


@pytest.mark.parametrize(
    ("environment", "enabled", "on"),
    [("test", None, False), ("dev", None, True), ("test", True, True), ("dev", False, False)],
)
def test_rate_limiting_is_on_except_in_the_test_environment(
    tmp_path: Path, environment: str, enabled: bool | None, on: bool
) -> None:
    settings = AppSettings(environment=environment, rate_limit_enabled=enabled)
    assert settings.rate_limits_on is on
    assert AppSettings(
        environment="production",
        jwt_secret="a-production-secret-with-many-distinct-chars-1",
        cursor_secret="another-production-secret-with-distinct-chars-2",
    ).rate_limits_on


def test_settings_refuse_a_rate_they_cannot_read() -> None:
    with pytest.raises(ValueError, match="COUNT/PERIOD"):
        AppSettings(rate_limit_auth="ten a minute")


async def test_every_limited_operation_declares_its_429(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    async with LifespanManager(app):
        paths = app.openapi()["paths"]
    login = paths["/login"]["post"]["responses"]["429"]
    example = login["content"]["application/problem+json"]["examples"]["RATE_LIMITED"]["value"]
    assert example["type"] == QUOTA_EXCEEDED_TYPE
    assert example["violated-policies"] == ["auth"]
    assert example["instance"] == "/login"
    assert set(login["headers"]) == {"Retry-After", "RateLimit", "RateLimit-Policy"}
    assert login["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ProblemDetails"
    }
    ping = paths["/ping"]["get"]["responses"]["429"]["content"]["application/problem+json"]
    assert ping["examples"]["RATE_LIMITED"]["value"]["violated-policies"] == ["default"]
    assert "429" not in paths["/health/live"]["get"]["responses"]
    assert "429" not in paths["/health/ready"]["get"]["responses"]
