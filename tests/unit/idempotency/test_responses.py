"""What is kept and replayed, what is not, and what happens when the store fails."""

from __future__ import annotations

import asyncio
from typing import Any, Self

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tests.contract.idempotency.orders import KEY, OrdersState, orders_app, serve_orders

from tiered.clock import FrozenClock
from tiered.errors import CacheError
from tiered.store import MemoryStore


class FlakyStore:
    """A memory store whose named operations raise ``CacheError`` while listed in ``failing``."""

    def __init__(self, inner: MemoryStore, failing: set[str] | None = None) -> None:
        self.inner = inner
        self.failing = failing if failing is not None else set()

    def namespace(self, name: str) -> Self:
        return type(self)(self.inner.namespace(name), self.failing)

    def _check(self, operation: str) -> None:
        if operation in self.failing:
            raise CacheError(f"Redis failed during {operation}")

    async def get(self, key: str) -> bytes | None:
        self._check("get")
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check("set")
        await self.inner.set(key, value, ttl)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        self._check("set_if_absent")
        return await self.inner.set_if_absent(key, value, ttl)

    async def increment(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        self._check("increment")
        return await self.inner.increment(key, by, ttl)

    async def delete(self, key: str) -> bool:
        self._check("delete")
        return await self.inner.delete(key)

    async def expires_in(self, key: str) -> float | None:
        self._check("expires_in")
        return await self.inner.expires_in(key)


async def test_a_streamed_response_is_kept_whole() -> None:
    async with serve_orders(MemoryStore()) as served:
        first = await served.client.post("/orders", json={"item": "stream"}, headers=KEY)
        retry = await served.client.post("/orders", json={"item": "stream"}, headers=KEY)
    assert first.text.count("\n") == 3
    assert retry.content == first.content
    assert retry.headers["content-type"] == first.headers["content-type"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert served.state.runs["stream"] == 1


async def test_a_response_over_the_limit_is_sent_but_not_kept() -> None:
    async with serve_orders(MemoryStore(), max_response_bytes=1024) as served:
        first = await served.client.post("/orders", json={"item": "large"}, headers=KEY)
        retry = await served.client.post("/orders", json={"item": "large"}, headers=KEY)
    assert first.status_code == retry.status_code == 201
    assert len(first.content) > 4096
    assert first.json()["id"] == 1
    assert retry.json()["id"] == 2, "the key was released, so the retry ran"


async def test_a_route_may_read_its_raw_body_after_the_dependency() -> None:
    async with serve_orders(MemoryStore()) as served:
        first = await served.client.post("/notes", content=b"remember the milk", headers=KEY)
        retry = await served.client.post("/notes", content=b"remember the milk", headers=KEY)
        other = await served.client.post("/notes", content=b"remember the eggs", headers=KEY)
    assert first.json() == {"note": "remember the milk", "n": 1}
    assert retry.content == first.content
    assert other.status_code == 422
    assert served.state.runs["note"] == 1


async def test_a_form_upload_is_fingerprinted_by_its_raw_bytes() -> None:
    boundary = "boundary-1"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nprices\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nname,price\r\nrain,3\r\n--{boundary}--\r\n"
    ).encode()
    headers = {**KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with serve_orders(MemoryStore()) as served:
        first = await served.client.post("/uploads", content=body, headers=headers)
        retry = await served.client.post("/uploads", content=body, headers=headers)
        changed = await served.client.post(
            "/uploads", content=body.replace(b"rain,3", b"rain,4"), headers=headers
        )
    assert first.status_code == 201
    assert first.json() == {"title": "prices", "size": 18, "n": 1}
    assert retry.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 422
    assert served.state.runs["upload"] == 1


async def test_a_cancelled_request_releases_its_key() -> None:
    async with serve_orders(MemoryStore()) as served:
        held = asyncio.create_task(
            served.client.post("/orders", json={"item": "hold"}, headers=KEY)
        )
        await served.state.started.wait()
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        served.state.gate.set()
        retried = await served.client.post("/orders", json={"item": "hold"}, headers=KEY)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert served.state.attempts == 2


async def test_an_unreachable_store_refuses_the_request_by_default() -> None:
    store = FlakyStore(MemoryStore(), {"set_if_absent"})
    async with serve_orders(store) as served:
        refused = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        without_key = await served.client.post("/accounts/1/deposits", json={"amount": 1})
    assert refused.status_code == 503
    assert refused.json()["code"] == "CACHE_UNAVAILABLE"
    assert "retry-after" in refused.headers
    assert served.state.attempts == 0
    assert without_key.status_code == 200, "requests without a key never touch the store"


async def test_fail_open_serves_without_idempotency_while_the_store_is_down() -> None:
    store = FlakyStore(MemoryStore(), {"set_if_absent"})
    async with serve_orders(store, fail_open=True) as served:
        first = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        second = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        store.failing.clear()
        third = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        fourth = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert [r.json()["id"] for r in (first, second, third)] == [1, 2, 3]
    assert fourth.headers["idempotent-replayed"] == "true"
    assert fourth.json()["id"] == 3


async def test_a_store_that_fails_after_the_handler_still_delivers_the_response() -> None:
    clock = FrozenClock()
    store = FlakyStore(MemoryStore(clock=clock))

    async with serve_orders(store) as served:
        store.failing.add("set")
        delivered = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        store.failing.clear()
        during_lease = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        clock.advance(60)
        after_lease = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)

    assert delivered.status_code == 201
    assert delivered.json()["id"] == 1
    assert during_lease.status_code == 409, "the claim stands until its lease ends"
    assert after_lease.json()["id"] == 2


async def test_a_release_that_fails_does_not_hide_the_handlers_error() -> None:
    store = FlakyStore(MemoryStore())
    async with serve_orders(store) as served:
        store.failing.update({"get", "delete"})
        failed = await served.client.post("/orders", json={"item": "refused"}, headers=KEY)
    assert failed.status_code == 409
    assert failed.json()["detail"] == "Out of stock."


async def test_without_install_every_request_to_the_route_is_a_500() -> None:
    state = OrdersState()
    app, _ = orders_app(MemoryStore(), state, install=False)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with_key = await client.post("/orders", json={"item": "tea"}, headers=KEY)
            without = await client.post("/accounts/1/deposits", json={"amount": 1})
    assert (with_key.status_code, without.status_code) == (500, 500)
    assert state.attempts == 0


async def test_a_key_without_a_store_is_a_500() -> None:
    async with serve_orders(None) as served:
        response = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
        served.idempotency.store = MemoryStore()
        later = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    assert response.status_code == 500
    assert later.status_code == 201


def _client(app: Any, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_anonymous_callers_are_told_apart_by_address() -> None:
    state = OrdersState()
    app, _ = orders_app(MemoryStore(), state)
    async with LifespanManager(app) as manager:
        served = manager.app
        async with _client(served, "203.0.113.1") as one, _client(served, "203.0.113.2") as two:
            first = await one.post("/orders", json={"item": "tea"}, headers=KEY)
            other = await two.post("/orders", json={"item": "tea"}, headers=KEY)
            again = await one.post("/orders", json={"item": "tea"}, headers=KEY)
    assert (first.json()["id"], other.json()["id"]) == (1, 2)
    assert again.headers["idempotent-replayed"] == "true"
    assert state.runs["tea"] == 2


class RecordingStore(FlakyStore):
    """Logs each write to the store, in order, beside what the spy below logs."""

    def __init__(self, inner: MemoryStore, log: list[str]) -> None:
        super().__init__(inner)
        self.log = log

    def namespace(self, name: str) -> Self:
        return type(self)(self.inner.namespace(name), self.log)

    def _check(self, operation: str) -> None:
        if operation != "get":
            self.log.append(operation)


class StartSpy:
    """Outermost layer: notes when each response starts on its way to the client."""

    def __init__(self, app: Any, log: list[str]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def spy(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.log.append(f"start {message['status']}")
            await send(message)

        await self.app(scope, receive, spy)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("tea", ["set_if_absent", "set", "start 201"]),
        ("refused", ["set_if_absent", "delete", "start 409"]),
        ("boom", ["set_if_absent", "delete", "start 500"]),
    ],
)
async def test_the_key_is_settled_before_the_client_has_its_answer(
    item: str, expected: list[str]
) -> None:
    """A client that has its answer retries into a replay or a fresh run, never a 409."""
    log: list[str] = []
    state = OrdersState()
    app, _ = orders_app(RecordingStore(MemoryStore(), log), state)
    app.add_middleware(StartSpy, log=log)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/orders", json={"item": item}, headers=KEY)
    assert log == expected
