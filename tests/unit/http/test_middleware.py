"""The pure-ASGI middleware stack, through a real app built by ``create_app``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import BaseModel

from tiered.app import create_app
from tiered.http.body_limit import BodyLimitMiddleware
from tiered.http.request_id import accept_or_generate
from tiered.settings import AppSettings
from tiered.testing import app_client

router = APIRouter()


class Echo(BaseModel):
    text: str


@router.get("/client")
async def client_ip(request: Request) -> dict[str, str | None]:
    return {"host": request.client.host if request.client else None, "scheme": request.url.scheme}


@router.post("/echo")
async def echo(body: Echo) -> Echo:
    return body


@router.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}


@pytest.fixture
def settings(sqlite_url: str) -> AppSettings:
    return AppSettings(database_url=sqlite_url, max_body_bytes=1000, log_json=True)


@pytest.fixture
async def client(settings: AppSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, title="t", routers=[router], body_limits={"/upload": 5000})
    async with app_client(app) as client:
        yield client


async def test_request_id_is_generated_and_echoed(client: httpx.AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_well_formed_client_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123.DEF:9"})
    assert response.headers["x-request-id"] == "abc-123.DEF:9"


@pytest.mark.parametrize("bad", ["a" * 200, "has space", "semi;colon", "-leading-dash", ""])
def test_malformed_request_id_is_replaced(bad: str) -> None:
    replaced = accept_or_generate(bad)
    assert replaced != bad
    assert len(replaced) == 32


async def test_security_headers_on_success_and_problem(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health/live"), await client.get("/nope")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers


async def test_hsts_only_over_https(settings: AppSettings) -> None:
    app = create_app(settings, title="t")
    async with app_client(app, base_url="https://testserver") as client:
        response = await client.get("/health/live")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_docs_keep_their_own_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]


async def test_body_within_limit_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"text": "x" * 900})
    assert response.status_code == 200
    assert response.json() == {"text": "x" * 900}


async def test_declared_body_over_limit_is_413_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"text": "x" * 2000})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    assert body["limit_bytes"] == 1000
    assert body["request_id"] == response.headers["x-request-id"]


async def test_streamed_body_over_limit_is_413_problem(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 100

    response = await client.post("/upload", content=chunks())
    assert response.status_code == 200
    assert response.json() == {"bytes": 2000}

    async def too_many() -> AsyncIterator[bytes]:
        for _ in range(80):
            yield b"y" * 100

    response = await client.post("/upload", content=too_many())
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 5000


def test_longest_prefix_limit_wins() -> None:
    async def app(scope: object, receive: object, send: object) -> None:  # pragma: no cover
        raise AssertionError

    middleware = BodyLimitMiddleware(app, max_bytes=10, limits={"/api": 20, "/api/v1/import": 30})
    assert middleware.limit_for("/other") == 10
    assert middleware.limit_for("/api/v1/markets") == 20
    assert middleware.limit_for("/api/v1/import") == 30


async def test_forwarded_for_ignored_without_trusted_proxies(client: httpx.AsyncClient) -> None:
    response = await client.get("/client", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.json()["host"] == "127.0.0.1"


async def test_forwarded_for_used_behind_trusted_proxy(sqlite_url: str) -> None:
    settings = AppSettings(database_url=sqlite_url, trusted_proxies=["127.0.0.1"])
    app = create_app(settings, title="t", routers=[router])
    async with app_client(app) as client:
        response = await client.get(
            "/client", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        )
    assert response.json() == {"host": "203.0.113.9", "scheme": "https"}


async def test_forwarded_for_ignored_from_untrusted_peer(sqlite_url: str) -> None:
    settings = AppSettings(database_url=sqlite_url, trusted_proxies=["10.0.0.0/8"])
    app = create_app(settings, title="t", routers=[router])
    async with app_client(app) as client:
        response = await client.get("/client", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.json()["host"] == "127.0.0.1"


async def test_cors_from_settings(sqlite_url: str) -> None:
    settings = AppSettings(database_url=sqlite_url, cors_origins=["https://app.example"])
    app = create_app(settings, title="t", routers=[router])
    async with app_client(app) as client:
        allowed = await client.options(
            "/echo",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        denied = await client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in denied.headers


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_access_log_line_per_request(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = await client.get("/health/live", headers={"X-Request-ID": "trace-me"})
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line.get("event") == "request"]
    assert len(access) == 1
    assert access[0]["request_id"] == "trace-me"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/health/live"
    assert access[0]["status"] == response.status_code == 200
    assert access[0]["duration_ms"] >= 0


def _captured(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_secrets_in_requests_are_not_logged(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    leaky = APIRouter()

    @leaky.post("/login")
    async def login(request: Request) -> dict[str, bool]:
        from tiered.observability import get_logger

        get_logger("careless").info(
            "login attempt", headers=dict(request.headers), body=await request.json()
        )
        return {"ok": True}

    settings = AppSettings(database_url=sqlite_url, log_json=True)
    app = create_app(settings, title="t", routers=[leaky])
    password, token = "hunter2-very-secret", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    async with app_client(app) as client:
        capsys.readouterr()
        response = await client.post(
            "/login",
            json={"email": "a@example.com", "password": password},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    out = capsys.readouterr().out
    assert "login attempt" in out
    assert password not in out
    assert token not in out
    assert any(line.get("event") == "login attempt" for line in _captured(out))


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    await client.get("/nope-1")
    await client.get("/nope-2")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 2.0' in text
    assert "nope-1" not in text
    assert "http_request_duration_seconds_bucket" in text
