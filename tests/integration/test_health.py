"""Readiness follows real dependencies down and back up, with no restart."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.integration.conftest import PrivateRedis
from tests.integration.tcp_proxy import TcpProxy

from tiered.app import create_app
from tiered.settings import AppSettings
from tiered.testing import app_client


async def test_ready_when_database_answers(make_settings: Callable[..., AppSettings]) -> None:
    app = create_app(make_settings(), title="t")
    async with app_client(app) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.mark.redis
async def test_ready_follows_redis_down_and_up(
    sqlite_url: str, private_redis: PrivateRedis
) -> None:
    settings = AppSettings(database_url=sqlite_url, redis_url=private_redis.url, log_json=True)
    app = create_app(settings, title="t")
    async with app_client(app) as client:
        up = await client.get("/health/ready")
        assert up.status_code == 200
        assert up.json()["checks"] == {"database": "ok", "redis": "ok"}

        private_redis.stop()
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert int(down.headers["retry-after"]) > 0
        body = down.json()
        assert body["code"] == "NOT_READY"
        assert body["checks"] == {"database": "ok", "redis": "unavailable"}
        assert (await client.get(body["type"])).status_code == 200

        private_redis.start()
        again = await client.get("/health/ready")
        assert again.status_code == 200
        assert again.json()["checks"]["redis"] == "ok"


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.postgres
async def test_database_outage_gives_503_then_recovers(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    settings = AppSettings(
        database_url=_through(postgres_url, proxy.port), log_json=True, health_check_timeout=2.0
    )
    app = create_app(settings, title="t")
    try:
        async with app_client(app) as client:
            assert (await client.get("/health/ready")).status_code == 200

            await proxy.stop()
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["checks"] == {"database": "unavailable"}

            await proxy.start()
            back = await client.get("/health/ready")
            assert back.status_code == 200
    finally:
        await proxy.stop()


@pytest.mark.postgres
async def test_unreachable_database_at_startup_still_starts(postgres_url: str) -> None:
    settings = AppSettings(
        database_url=_through(postgres_url, 1), log_json=True, database_connect_timeout=1.0
    )
    app = create_app(settings, title="t")
    async with app_client(app) as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "unavailable"}
