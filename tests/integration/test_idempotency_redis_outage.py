"""Redis stopped under idempotent routes: a 503 (or, failing open, no idempotency), never a 500."""

from __future__ import annotations

import asyncio

import pytest
from tests.contract.idempotency.orders import KEY, serve_orders
from tests.integration.conftest import PrivateRedis

from tiered.redis_connection import connect_redis
from tiered.store import RedisStore

pytestmark = pytest.mark.redis


async def test_a_request_with_a_key_is_a_503_while_redis_is_down(
    private_redis: PrivateRedis,
) -> None:
    client = connect_redis(private_redis.url, timeout=0.5)
    try:
        async with serve_orders(RedisStore(client)) as served:
            before = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
            private_redis.stop()
            down = await served.client.post("/orders", json={"item": "coffee"}, headers=KEY)
            without_key = await served.client.post("/accounts/1/deposits", json={"amount": 1})
            private_redis.start()  # empty: the stored response is gone with the old server
            statuses = []
            for _ in range(3):  # a pooled connection from before the restart fails once
                response = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
                statuses.append(response.status_code)
                if response.status_code != 503:
                    break
    finally:
        await client.aclose()

    assert before.status_code == 201
    assert down.status_code == 503
    assert down.json()["code"] == "CACHE_UNAVAILABLE"
    assert "retry-after" in down.headers
    assert without_key.status_code == 200
    assert statuses[-1] == 201
    assert served.state.runs == {"tea": 2, "deposit:1": 1}


async def test_failing_open_serves_while_redis_is_down(private_redis: PrivateRedis) -> None:
    client = connect_redis(private_redis.url, timeout=0.5)
    try:
        async with serve_orders(RedisStore(client), fail_open=True) as served:
            private_redis.stop()
            responses = [
                await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
                for _ in range(2)
            ]
    finally:
        await client.aclose()
    assert [response.status_code for response in responses] == [201, 201]
    assert served.state.runs["tea"] == 2, "without a store, a retry runs again"


async def test_redis_stopping_mid_request_still_delivers_the_response(
    private_redis: PrivateRedis,
) -> None:
    client = connect_redis(private_redis.url, timeout=0.5)
    try:
        async with serve_orders(RedisStore(client)) as served:
            held = asyncio.create_task(
                served.client.post("/orders", json={"item": "hold"}, headers=KEY)
            )
            await served.state.started.wait()
            private_redis.stop()
            served.state.gate.set()
            answered = await held
    finally:
        await client.aclose()
    assert answered.status_code == 201
    assert answered.json()["item"] == "hold"
