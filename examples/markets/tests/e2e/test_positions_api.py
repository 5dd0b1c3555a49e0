"""Buying and listing positions over HTTP, on SQLite and PostgreSQL.

Who is calling comes from a test header (``X-Test-Caller: bob``) read by a
stand-in for the service's authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from markets.api.authentication import Caller, authenticate
from markets.config import Settings
from markets.domain.markets import MarketStatus
from markets.domain.positions import Side
from markets.domain.users import Actor
from markets.main import create_app
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.access import POLICY, actor_of
from markets.services.markets import MarketChanges, MarketDraft, MarketService
from markets.services.positions import PositionService
from tiered.db import record_statements
from tiered.security import Principal
from tiered.testing import app_client

MARKETS = "/api/v1/markets"
PROBLEM_JSON = "application/problem+json"
NewUow = Callable[[], MarketsUnitOfWork]


def caller_from_header(people: dict[str, Actor]) -> Callable[[Request], Awaitable[Caller | None]]:
    """``X-Test-Caller: <name>`` signs in as that person; no header is anonymous."""

    async def fake_authenticate(request: Request) -> Caller | None:
        name = request.headers.get("x-test-caller")
        if name is None:
            return None
        actor = people[name]
        principal = Principal.user(actor.user_id, actor.role, POLICY)
        return Caller(principal, actor_of(principal, actor.role))

    return fake_authenticate


def as_(name: str) -> dict[str, str]:
    return {"X-Test-Caller": name}


def buying(name: str) -> dict[str, str]:
    """``as_(name)`` with a fresh ``Idempotency-Key``, which a purchase requires."""
    return {**as_(name), "Idempotency-Key": f'"{uuid4()}"'}


@pytest.fixture
async def app(database_url: str, database: object, people: dict[str, Actor]) -> FastAPI:
    del database  # migrated by the fixture
    app = create_app(Settings(environment="test", database_url=database_url, log_level="WARNING"))
    app.dependency_overrides[authenticate] = caller_from_header(people)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as client:
        yield client


async def market(
    new_uow: NewUow, creator: Actor, status: MarketStatus = MarketStatus.ACTIVE
) -> str:
    """A market of ``creator`` in ``status``, made through the service as a client would."""
    start = MarketStatus.DRAFT if status is MarketStatus.DRAFT else MarketStatus.ACTIVE
    detail = await MarketService(new_uow()).create(creator, MarketDraft("Rain?", status=start))
    if status is MarketStatus.CLOSED:
        await MarketService(new_uow()).update(
            creator, detail.id, MarketChanges(status=MarketStatus.CLOSED), None
        )
    return str(detail.id)


async def volume_of(client: httpx.AsyncClient, market_id: str, who: str = "mona") -> Decimal:
    response = await client.get(f"{MARKETS}/{market_id}", headers=as_(who))
    assert response.status_code == 200, response.text
    return Decimal(response.json()["data"]["volume"])


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


async def test_a_purchase_is_stored_and_raises_the_volume(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    market_id = await market(new_uow, people["alice"])
    before = await client.get(f"{MARKETS}/{market_id}")
    bought = await client.post(
        f"{MARKETS}/{market_id}/positions",
        json={"side": "yes", "amount": "10.5"},
        headers=buying("bob"),
    )
    assert bought.status_code == 201, bought.text
    position = bought.json()["data"]
    assert (position["side"], position["amount"], position["market_id"], position["user_id"]) == (
        "yes",
        "10.5000",
        market_id,
        str(people["bob"].user_id),
    )
    location = bought.headers["location"]
    assert location == f"{MARKETS}/{market_id}/positions/{position['id']}"
    fetched = await client.get(location, headers=as_("alice"))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == bought.json()

    after = (await client.get(f"{MARKETS}/{market_id}")).json()["data"]
    assert Decimal(after["volume"]) == Decimal("10.5")
    assert after["version"] == before.json()["data"]["version"] + 1
    whole = await client.post(
        f"{MARKETS}/{market_id}/positions",
        json={"side": "no", "amount": 3},
        headers=buying("alice"),
    )
    assert whole.json()["data"]["amount"] == "3.0000"
    assert await volume_of(client, market_id) == Decimal("13.5")


async def test_a_markets_positions_page_and_filter(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    market_id = await market(new_uow, people["alice"])
    other = await market(new_uow, people["alice"])
    for amount in range(1, 8):
        side = Side.YES if amount % 2 else Side.NO
        await PositionService(new_uow()).buy(people["bob"], UUID(market_id), side, Decimal(amount))
    await PositionService(new_uow()).buy(people["bob"], UUID(other), Side.YES, Decimal(100))
    url = f"{MARKETS}/{market_id}/positions"

    first = await client.get(url, params={"limit": 3, "sort": "-amount"}, headers=as_("mona"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert [item["amount"] for item in body["data"]] == ["7.0000", "6.0000", "5.0000"]
    assert body["meta"]["total"] == 7
    rest = await client.get(
        url,
        params={"limit": 10, "sort": "-amount", "cursor": body["meta"]["next_cursor"]},
        headers=as_("mona"),
    )
    assert [item["amount"] for item in rest.json()["data"]] == [
        "4.0000",
        "3.0000",
        "2.0000",
        "1.0000",
    ]
    yes = await client.get(url, params={"side": "yes"}, headers=as_("bob"))
    assert sorted(Decimal(item["amount"]) for item in yes.json()["data"]) == [1, 3, 5, 7]
    for params, code in (({"user_id": str(people["bob"].user_id)}, "INVALID_QUERY"),):
        problem(await client.get(url, params=params, headers=as_("bob")), 400, code)
    problem(await client.get(url), 401, "AUTHENTICATION_REQUIRED")


async def test_inactive_markets_take_no_position(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    draft = await market(new_uow, people["alice"], MarketStatus.DRAFT)
    closed = await market(new_uow, people["alice"], MarketStatus.CLOSED)
    order = {"side": "no", "amount": "1"}
    for market_id in (draft, closed):
        response = await client.post(
            f"{MARKETS}/{market_id}/positions", json=order, headers=buying("alice")
        )
        problem(response, 409, "MARKET_NOT_ACTIVE")
        assert await volume_of(client, market_id) == 0
        listed = await client.get(f"{MARKETS}/{market_id}/positions", headers=as_("alice"))
        assert listed.json()["meta"]["total"] == 0
    unknown = await client.post(f"{MARKETS}/{uuid4()}/positions", json=order, headers=buying("bob"))
    problem(unknown, 404, "MARKET_NOT_FOUND")


async def test_another_users_draft_does_not_exist_for_positions(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    """BOLA: bob can neither buy on nor list alice's draft; it stays untouched."""
    draft = await market(new_uow, people["alice"], MarketStatus.DRAFT)
    url = f"{MARKETS}/{draft}/positions"
    bought = await client.post(url, json={"side": "yes", "amount": "5"}, headers=buying("bob"))
    problem(bought, 404, "MARKET_NOT_FOUND")
    problem(await client.get(url, headers=as_("bob")), 404, "MARKET_NOT_FOUND")
    problem(await client.get(f"{url}/{uuid4()}", headers=as_("bob")), 404, "MARKET_NOT_FOUND")
    assert await volume_of(client, draft, "alice") == 0
    assert (await client.get(f"{MARKETS}/{draft}", headers=as_("alice"))).json()["data"][
        "version"
    ] == 1


async def test_a_position_is_found_only_under_its_market(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    first = await market(new_uow, people["alice"])
    second = await market(new_uow, people["alice"])
    bought = await PositionService(new_uow()).buy(people["bob"], UUID(first), Side.NO, Decimal(2))
    wrong = await client.get(f"{MARKETS}/{second}/positions/{bought.id}", headers=as_("bob"))
    problem(wrong, 404, "POSITION_NOT_FOUND")


@pytest.mark.parametrize(
    "amount",
    [
        "0",
        "0.0000",
        "-1",
        "0.00001",
        "1.23456",
        10.5,
        "1e3",
        " 1",
        "abc",
        0,
        -3,
        10**14,
        True,
        None,
    ],
)
async def test_amounts_that_are_not_exact_and_positive_are_a_422(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor], amount: object
) -> None:
    market_id = await market(new_uow, people["alice"])
    response = await client.post(
        f"{MARKETS}/{market_id}/positions",
        json={"side": "yes", "amount": amount},
        headers=buying("bob"),
    )
    body = problem(response, 422, "REQUEST_VALIDATION_FAILED")
    assert [error["pointer"] for error in body["errors"]] == ["/amount"]
    assert await volume_of(client, market_id) == 0


@pytest.mark.parametrize("field", ["id", "user_id", "market_id", "created_at", "volume"])
async def test_server_owned_fields_in_a_purchase_are_refused(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor], field: str
) -> None:
    market_id = await market(new_uow, people["alice"])
    smuggled = {"id": str(uuid4()), "user_id": str(people["alice"].user_id)}.get(field, "1")
    response = await client.post(
        f"{MARKETS}/{market_id}/positions",
        json={"side": "yes", "amount": "1", field: smuggled},
        headers=buying("bob"),
    )
    body = problem(response, 422, "REQUEST_VALIDATION_FAILED")
    assert [error["pointer"] for error in body["errors"]] == [f"/{field}"]
    assert await volume_of(client, market_id) == 0


async def test_concurrent_purchases_add_up_exactly(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    """50 purchases at once: every one is stored and the volume is their exact sum."""
    market_id = await market(new_uow, people["alice"])
    amounts = [Decimal(n) + Decimal("0.0001") * n for n in range(1, 51)]
    buyers = ["alice", "bob", "mona"]
    responses = await asyncio.gather(
        *(
            client.post(
                f"{MARKETS}/{market_id}/positions",
                json={"side": "yes" if n % 2 else "no", "amount": str(amount)},
                headers=buying(buyers[n % 3]),
            )
            for n, amount in enumerate(amounts)
        )
    )
    assert [response.status_code for response in responses] == [201] * 50
    assert await volume_of(client, market_id) == sum(amounts)
    listed = await client.get(f"{MARKETS}/{market_id}/positions", headers=as_("mona"))
    assert listed.json()["meta"]["total"] == 50
    detail = (await client.get(f"{MARKETS}/{market_id}")).json()["data"]
    assert detail["version"] == 1 + 50


async def test_own_positions_embed_their_market_in_constant_statements(
    client: httpx.AsyncClient, new_uow: NewUow, people: dict[str, Actor]
) -> None:
    markets = [await market(new_uow, people["alice"]) for _ in range(5)]
    for index in range(50):
        await PositionService(new_uow()).buy(
            people["bob"], UUID(markets[index % 5]), Side.YES, Decimal(index + 1)
        )
    await PositionService(new_uow()).buy(people["alice"], UUID(markets[0]), Side.NO, Decimal(1))
    counts = {}
    for limit in (5, 50):
        with record_statements() as recorder:
            response = await client.get(
                "/api/v1/me/positions", params={"limit": limit}, headers=as_("bob")
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) == limit
        assert body["meta"]["total"] == 50
        assert {item["market"]["id"] for item in body["data"]} <= set(markets)
        assert all(item["market"]["name"] == "Rain?" for item in body["data"])
        counts[limit] = recorder.count
    assert counts[5] == counts[50] <= 2
    alices = await client.get("/api/v1/me/positions", headers=as_("alice"))
    assert [item["amount"] for item in alices.json()["data"]] == ["1.0000"]
    problem(await client.get("/api/v1/me/positions"), 401, "AUTHENTICATION_REQUIRED")
