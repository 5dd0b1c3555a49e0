"""Two `markets serve` processes on one database and one Redis, as in distributed mode.

Rate limits hold across them (one quota, however requests are spread), and a
write through one process shows in the other's next read, although each keeps
its own copy of what it reads (the two-level cache).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from examples.markets.tests.processes import MarketsServer
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from markets.migrate import upgrade

pytestmark = pytest.mark.redis

N = 20
PASSWORD = "tram line to the harbour"
MARKETS = "/api/v1/markets"

StartPair = Callable[[dict[str, str]], tuple[str, str]]


@pytest.fixture
def start_pair(tmp_path: Path, redis_url: str) -> Iterator[StartPair]:
    """Starts two servers with the given extra settings; stops them and drops their Redis keys."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'markets.db'}"
    upgrade(database_url)
    app_name = f"markets-test-{uuid.uuid4().hex}"
    servers: list[MarketsServer] = []

    def start(settings: dict[str, str]) -> tuple[str, str]:
        environment = {
            "MARKETS_ENVIRONMENT": "test",
            "MARKETS_APP_NAME": app_name,
            "MARKETS_DATABASE_URL": database_url,
            "MARKETS_REDIS_URL": redis_url,
            "MARKETS_LOG_LEVEL": "WARNING",
            "MARKETS_LOG_JSON": "true",
            **settings,
        }
        pair = [MarketsServer(tmp_path, environment), MarketsServer(tmp_path, environment)]
        servers.extend(pair)
        for server in pair:
            server.wait_until_live()
        return pair[0].url, pair[1].url

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        client = Redis.from_url(redis_url)
        keys = [
            key
            for pattern in (f"{app_name}:*", f"{app_name}-cache:*")
            for key in client.scan_iter(match=pattern)
        ]
        if keys:
            client.delete(*keys)
        client.close()


def counter(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of a ``/metrics`` page (0 when it is absent)."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_rate_limits_hold_across_two_processes(start_pair: StartPair) -> None:
    first, second = start_pair(
        {"MARKETS_RATE_LIMIT_ENABLED": "true", "MARKETS_RATE_LIMIT_DEFAULT": f"{N}/hour"}
    )
    limits = httpx.Limits(max_connections=3 * N)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        responses = await asyncio.gather(
            *(
                http.get(f"{(first, second)[number % 2]}{MARKETS}", params={"limit": 1})
                for number in range(3 * N)
            )
        )
        pages = [(await http.get(f"{server}/metrics")).text for server in (first, second)]
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == N, statuses
    assert statuses.count(429) == 2 * N
    for response in responses:
        assert response.headers["ratelimit-policy"] == f'"default";q={N};w=3600'
    refused = next(response for response in responses if response.status_code == 429)
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"] == "application/problem+json"
    decisions = "rate_limit_decisions_total"
    assert sum(counter(page, decisions, outcome="allowed") for page in pages) == N
    assert sum(counter(page, decisions, outcome="limited") for page in pages) == 2 * N
    assert all(counter(page, decisions, outcome="allowed") > 0 for page in pages)


async def _signed_in(http: httpx.AsyncClient, server: str, email: str) -> dict[str, str]:
    body = {"email": email, "password": PASSWORD, "display_name": "Alice"}
    registered = await http.post(f"{server}/api/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    form = {"username": email, "password": PASSWORD}
    tokens = await http.post(f"{server}/api/v1/auth/token", data=form)
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


async def test_a_write_in_one_process_shows_in_the_others_next_read(
    start_pair: StartPair,
) -> None:
    # Local copies would outlive the whole test: only an invalidation can refresh them.
    writer, reader = start_pair(
        {"MARKETS_CACHE_ENABLED": "true", "MARKETS_CACHE_LOCAL_TTL": "3600"}
    )
    async with httpx.AsyncClient(timeout=30) as http:
        alice = await _signed_in(http, writer, "alice@example.com")
        created = await http.post(
            f"{writer}{MARKETS}", json={"name": "Rain?", "status": "active"}, headers=alice
        )
        assert created.status_code == 201, created.text
        path = f"{MARKETS}/{created.json()['data']['id']}"

        async def name_in(server: str) -> str:
            response = await http.get(f"{server}{path}")
            assert response.status_code == 200, response.text
            name: str = response.json()["data"]["name"]
            return name

        assert [await name_in(reader), await name_in(reader)] == ["Rain?", "Rain?"]
        assert await name_in(writer) == "Rain?"
        hits = counter((await http.get(f"{reader}/metrics")).text, "cache_hits_total")
        assert hits >= 1

        edited = await http.patch(f"{writer}{path}", json={"name": "Snow?"}, headers=alice)
        assert edited.status_code == 200, edited.text
        assert await name_in(reader) == "Snow?"
        assert await name_in(writer) == "Snow?"

        bought = await http.post(
            f"{reader}{path}/positions",
            json={"side": "yes", "amount": "7.25"},
            headers={**alice, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert bought.status_code == 201, bought.text
        seen = await http.get(f"{writer}{path}")
        assert Decimal(seen.json()["data"]["volume"]) == Decimal("7.25")
        assert seen.headers["etag"] == (await http.get(f"{reader}{path}")).headers["etag"]
