"""``Idempotency-Key`` on purchases (required) and on new markets (optional)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from markets.api.dependencies import UnitOfWorkDep, position_service
from markets.domain.positions import Position, Side
from markets.domain.users import Actor
from markets.services.positions import PositionService

from ..conftest import Accounts

MARKETS = "/api/v1/markets"


@pytest.fixture
async def alice(accounts: Accounts) -> dict[str, str]:
    return await accounts.signed_in("alice@example.com")


@pytest.fixture
async def market(api: httpx.AsyncClient, alice: dict[str, str]) -> str:
    created = await api.post(MARKETS, json={"name": "Rain?", "status": "active"}, headers=alice)
    assert created.status_code == 201, created.text
    market_id: str = created.json()["data"]["id"]
    return market_id


async def positions_and_volume(
    api: httpx.AsyncClient, market_id: str, headers: dict[str, str]
) -> tuple[int, Decimal]:
    listed = await api.get(f"{MARKETS}/{market_id}/positions", headers=headers)
    detail = await api.get(f"{MARKETS}/{market_id}")
    return listed.json()["meta"]["total"], Decimal(detail.json()["data"]["volume"])


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_retried_purchase_gets_the_first_answer_and_buys_once(
    api: httpx.AsyncClient, alice: dict[str, str], market: str
) -> None:
    url, order = f"{MARKETS}/{market}/positions", {"side": "yes", "amount": "12.5"}
    first = await api.post(url, json=order, headers=keyed(alice, '"order-1"'))
    retry = await api.post(url, json=order, headers=keyed(alice, "order-1"))  # bare: same key
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.content == first.content
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await positions_and_volume(api, market, alice) == (1, Decimal("12.5"))


async def test_a_key_reused_for_another_purchase_or_missing_is_refused(
    api: httpx.AsyncClient, alice: dict[str, str], market: str
) -> None:
    url = f"{MARKETS}/{market}/positions"
    await api.post(url, json={"side": "yes", "amount": "1"}, headers=keyed(alice, "order-2"))
    reused = await api.post(
        url, json={"side": "yes", "amount": "2"}, headers=keyed(alice, "order-2")
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    missing = await api.post(url, json={"side": "yes", "amount": "3"}, headers=alice)
    assert (missing.status_code, missing.json()["code"]) == (400, "IDEMPOTENCY_KEY_MISSING")
    malformed = await api.post(url, json={"side": "yes", "amount": "3"}, headers=keyed(alice, ""))
    assert (malformed.status_code, malformed.json()["code"]) == (400, "INVALID_IDEMPOTENCY_KEY")
    assert await positions_and_volume(api, market, alice) == (1, Decimal(1))


async def test_keys_belong_to_their_caller(
    api: httpx.AsyncClient, accounts: Accounts, alice: dict[str, str], market: str
) -> None:
    """bob sending alice's key buys his own position; nothing of hers is replayed to him."""
    bob = await accounts.signed_in("bob@example.com")
    url, order = f"{MARKETS}/{market}/positions", {"side": "no", "amount": "4"}
    mine = await api.post(url, json=order, headers=keyed(alice, "shared-key"))
    his = await api.post(url, json=order, headers=keyed(bob, "shared-key"))
    assert (mine.status_code, his.status_code) == (201, 201)
    assert "idempotent-replayed" not in his.headers
    assert his.json()["data"]["id"] != mine.json()["data"]["id"]
    assert await positions_and_volume(api, market, alice) == (2, Decimal(8))


class HeldPurchases(PositionService):
    """Purchases wait for ``release`` once ``started`` is set: a request kept in flight."""

    started = asyncio.Event()
    release = asyncio.Event()

    async def buy(self, actor: Actor, market_id: UUID, side: Side, amount: Decimal) -> Position:
        type(self).started.set()
        await type(self).release.wait()
        return await super().buy(actor, market_id, side, amount)


async def test_a_duplicate_while_the_first_is_in_flight_is_a_409(
    api: httpx.AsyncClient, markets_app: FastAPI, alice: dict[str, str], market: str
) -> None:
    HeldPurchases.started, HeldPurchases.release = asyncio.Event(), asyncio.Event()

    async def held(uow: UnitOfWorkDep) -> PositionService:
        return HeldPurchases(uow)

    markets_app.dependency_overrides[position_service] = held
    url, order = f"{MARKETS}/{market}/positions", {"side": "yes", "amount": "5"}
    headers = keyed(alice, "in-flight")
    first = asyncio.create_task(api.post(url, json=order, headers=headers))
    await asyncio.wait_for(HeldPurchases.started.wait(), timeout=10)
    duplicate = await asyncio.wait_for(api.post(url, json=order, headers=headers), timeout=10)
    HeldPurchases.release.set()
    answered = await first
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "IDEMPOTENCY_KEY_IN_USE")
    assert duplicate.headers["retry-after"] == "1"
    assert answered.status_code == 201, answered.text
    replay = await api.post(url, json=order, headers=headers)
    assert replay.content == answered.content
    assert await positions_and_volume(api, market, alice) == (1, Decimal(5))


async def test_a_new_market_is_created_once_per_key_and_every_time_without(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    body: dict[str, Any] = {"name": "Snow?", "status": "draft"}
    with_key = [
        await api.post(MARKETS, json=body, headers=keyed(alice, "market-1")) for _ in range(2)
    ]
    without = [await api.post(MARKETS, json=body, headers=alice) for _ in range(2)]
    assert [response.status_code for response in with_key + without] == [201] * 4
    assert with_key[1].content == with_key[0].content
    assert with_key[1].headers["etag"] == with_key[0].headers["etag"]
    ids = {response.json()["data"]["id"] for response in with_key + without}
    assert len(ids) == 3
