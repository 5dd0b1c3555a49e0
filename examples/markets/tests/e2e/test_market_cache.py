"""``GET /api/v1/markets/{id}`` through the application cache, on SQLite and PostgreSQL.

The cache is on (the test environment turns it off by default) and in memory:
a hit runs no SQL, every write through the API shows in the next read, and a
cached draft stays private.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from examples.markets.tests.conftest import Accounts
from prometheus_client.parser import text_string_to_metric_families

from markets.config import Settings
from markets.domain.users import Role
from markets.main import create_app
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.clock import FrozenClock
from tiered.db import Database, record_statements
from tiered.http.conditional import etag_of
from tiered.security import PasswordHasher
from tiered.testing import app_client

MARKETS = "/api/v1/markets"


@pytest.fixture
async def api(
    database_url: str, database: Database, clock: FrozenClock, password_hasher: PasswordHasher
) -> AsyncIterator[httpx.AsyncClient]:
    del database  # migrated by the fixture
    settings = Settings(
        environment="test", database_url=database_url, log_level="WARNING", cache_enabled=True
    )
    app = create_app(settings, clock=clock, password_hasher=password_hasher)
    async with app_client(app) as client:
        yield client


@pytest.fixture
def accounts(api: httpx.AsyncClient, new_uow: Callable[[], MarketsUnitOfWork]) -> Accounts:
    return Accounts(api, new_uow)


async def create_market(
    api: httpx.AsyncClient, headers: dict[str, str], status: str = "active"
) -> str:
    response = await api.post(MARKETS, json={"name": "Rain?", "status": status}, headers=headers)
    assert response.status_code == 201, response.text
    return f"{MARKETS}/{response.json()['data']['id']}"


def hits(metrics: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "cache_hits_total":
                return float(sample.value)
    return 0.0


async def test_a_second_read_runs_no_statement(api: httpx.AsyncClient, accounts: Accounts) -> None:
    url = await create_market(api, await accounts.signed_in("alice@example.com"))
    with record_statements() as miss:
        first = await api.get(url)
    with record_statements() as hit:
        second = await api.get(url)
        unchanged = await api.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert miss.count > 0
    assert hit.count == 0
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"] == etag_of(second.content)
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == first.headers["etag"]
    assert hits((await api.get("/metrics")).text) == 2


async def test_every_write_shows_in_the_next_read(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    alice = await accounts.signed_in("alice@example.com")
    mona = await accounts.signed_in("mona@example.com", Role.MODERATOR)
    url = await create_market(api, alice)

    async def read() -> dict[str, Any]:
        response = await api.get(url)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    before = await read()
    edited = await api.patch(url, json={"name": "Snow?"}, headers=alice)
    assert edited.status_code == 200, edited.text
    assert (await read())["name"] == "Snow?"

    bought = await api.post(
        f"{url}/positions",
        json={"side": "yes", "amount": "2.5"},
        headers={**mona, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert bought.status_code == 201, bought.text
    after_purchase = await read()
    assert Decimal(after_purchase["volume"]) == Decimal("2.5")
    assert after_purchase["version"] == before["version"] + 2

    resolved = await api.post(f"{url}/resolve", json={"outcome": "no"}, headers=mona)
    assert resolved.status_code == 200, resolved.text
    assert ((await read())["status"], (await read())["outcome"]) == ("resolved", "no")

    assert (await api.delete(url, headers=mona)).status_code == 204
    assert (await api.get(url)).status_code == 404


async def test_a_cached_draft_stays_private(api: httpx.AsyncClient, accounts: Accounts) -> None:
    alice = await accounts.signed_in("alice@example.com")
    bob = await accounts.signed_in("bob@example.com")
    mona = await accounts.signed_in("mona@example.com", Role.MODERATOR)
    url = await create_market(api, alice, status="draft")
    own = await api.get(url, headers=alice)
    assert own.status_code == 200
    assert own.json()["data"]["status"] == "draft"
    for outsider in ({}, bob):
        hidden = await api.get(url, headers=outsider)
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "MARKET_NOT_FOUND"
    assert (await api.get(url, headers=mona)).status_code == 200
    assert hits((await api.get("/metrics")).text) == 3  # the refusals read the cached draft
