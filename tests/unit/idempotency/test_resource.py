"""``idempotency_store``: keys in Redis when the app has it, in memory otherwise."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from tests.contract.idempotency.orders import KEY, OrdersState, orders_router

from tiered.app import create_app
from tiered.idempotency import Idempotency, idempotency_store, install_idempotency
from tiered.settings import AppSettings
from tiered.store import MemoryStore, RedisStore
from tiered.testing import app_client


def _app(idempotency: Idempotency, state: OrdersState, **settings: Any) -> FastAPI:
    app = create_app(
        AppSettings(
            environment="test",
            database_url="sqlite+aiosqlite:///:memory:",
            log_level="WARNING",
            **settings,
        ),
        routers=[orders_router(idempotency, state)],
        resources=[idempotency_store(idempotency)],
    )
    install_idempotency(app)
    return app


async def test_an_app_without_redis_keeps_keys_in_memory() -> None:
    idempotency, state = Idempotency(), OrdersState()
    app = _app(idempotency, state)
    async with app_client(app) as client:
        assert isinstance(idempotency.store, MemoryStore)
        first = await client.post("/orders", json={"item": "tea"}, headers=KEY)
        retry = await client.post("/orders", json={"item": "tea"}, headers=KEY)
    assert retry.content == first.content
    assert state.runs["tea"] == 1
    assert idempotency.store is None, "the store goes with the app"


@pytest.mark.redis
async def test_an_app_with_redis_keeps_keys_there_under_its_name(redis_url: str) -> None:
    name = f"test-idempotency-{uuid.uuid4().hex}"
    idempotency, state = Idempotency(), OrdersState()
    app = _app(idempotency, state, redis_url=redis_url, app_name=name)
    client = Redis.from_url(redis_url)
    try:
        async with app_client(app) as http:
            assert isinstance(idempotency.store, RedisStore)
            await http.post("/orders", json={"item": "tea"}, headers=KEY)
            retry = await http.post("/orders", json={"item": "tea"}, headers=KEY)
        keys = [key async for key in client.scan_iter(match=f"{name}:*")]
        assert len(keys) == 1
        assert keys[0].startswith(f"{name}:idempotency:".encode())
        assert 0 < await client.ttl(keys[0]) <= 24 * 3600
    finally:
        async for key in client.scan_iter(match=f"{name}:*"):
            await client.delete(key)
        await client.aclose()
    assert retry.headers["idempotent-replayed"] == "true"
    assert state.runs["tea"] == 1
