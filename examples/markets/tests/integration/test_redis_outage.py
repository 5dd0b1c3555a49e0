"""Redis down: reads and writes still answer 2xx, ``/metrics`` counts, readiness says so.

The app runs on a Redis of its own (a private ``redis-server``), with its cache
and rate limiter on it, and the test stops that server halfway.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from markets.config import Settings
from markets.main import create_app
from markets.migrate import upgrade
from tiered.clock import FrozenClock
from tiered.security import PasswordHasher
from tiered.testing import PrivateRedis, app_client

pytestmark = pytest.mark.redis

PASSWORD = "tram line to the harbour"
MARKETS = "/api/v1/markets"


def total(metrics: str, name: str, **labels: str) -> float:
    """The sum of a counter's samples matching ``labels``."""
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_the_api_serves_through_a_redis_outage(
    tmp_path: Path,
    private_redis: PrivateRedis,
    clock: FrozenClock,
    password_hasher: PasswordHasher,
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'markets.db'}"
    await asyncio.to_thread(upgrade, database_url)
    settings = Settings(
        environment="test",
        database_url=database_url,
        redis_url=private_redis.url,
        log_level="CRITICAL",
        cache_enabled=True,
        rate_limit_enabled=True,
    )
    app = create_app(settings, clock=clock, password_hasher=password_hasher)
    async with app_client(app) as api:

        async def sign_up(name: str) -> dict[str, str]:
            body = {"email": f"{name}@example.com", "password": PASSWORD, "display_name": name}
            assert (await api.post("/api/v1/auth/register", json=body)).status_code == 201
            form = {"username": f"{name}@example.com", "password": PASSWORD}
            tokens = await api.post("/api/v1/auth/token", data=form)
            assert tokens.status_code == 200, tokens.text
            return {"Authorization": f"Bearer {tokens.json()['access_token']}"}

        alice = await sign_up("alice")
        created = await api.post(MARKETS, json={"name": "Rain?", "status": "active"}, headers=alice)
        assert created.status_code == 201, created.text
        url = f"{MARKETS}/{created.json()['data']['id']}"
        for _ in range(2):
            assert (await api.get(url)).status_code == 200
        healthy = (await api.get("/metrics")).text
        assert total(healthy, "cache_hits_total") >= 1
        assert total(healthy, "cache_errors_total") == 0
        assert total(healthy, "rate_limit_decisions_total", outcome="failed_open") == 0
        assert (await api.get("/health/ready")).status_code == 200

        private_redis.stop()

        read = await api.get(url)
        assert read.status_code == 200, read.text
        assert read.json()["data"]["name"] == "Rain?"
        edited = await api.patch(url, json={"name": "Snow?"}, headers=alice)
        assert edited.status_code == 200, edited.text
        assert (await api.get(url)).json()["data"]["name"] == "Snow?"
        bought = await api.post(
            f"{url}/positions",
            json={"side": "no", "amount": "4"},
            headers={**alice, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert bought.status_code == 201, bought.text
        assert Decimal((await api.get(url)).json()["data"]["volume"]) == 4
        bob = await sign_up("bob")
        assert (await api.get("/api/v1/me", headers=bob)).status_code == 200

        outage = (await api.get("/metrics")).text
        assert total(outage, "cache_errors_total") >= 1
        assert total(outage, "rate_limit_decisions_total", outcome="failed_open") >= 1
        ready = await api.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] == "unavailable"

        private_redis.start()
        assert (await api.get("/health/ready")).status_code == 200
        assert (await api.get(url)).json()["data"]["name"] == "Snow?"
