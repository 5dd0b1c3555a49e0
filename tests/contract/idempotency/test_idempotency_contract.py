"""Idempotency keys behave the same on a memory store and on real Redis.

Each test speaks HTTP to a ``create_app`` application whose routes declare
``Idempotency.key``; the handler counts what it completes, so "ran once" is
a count, not a guess.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tests.contract.idempotency.conftest import Harness
from tests.contract.idempotency.orders import KEY, Served, serve_orders

from tiered.idempotency import (
    Claim,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    StoredResponse,
    claim_key,
)

DAY = 24 * 60 * 60


@pytest_asyncio.fixture
async def served(harness: Harness) -> AsyncIterator[Served]:
    async with serve_orders(harness.store) as served:
        yield served


async def test_a_retry_replays_the_first_response_byte_for_byte(served: Served) -> None:
    first = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    retry = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert served.state.runs["tea"] == 1, "the handler ran once"
    for name in ("content-type", "location", "etag", "link"):
        assert retry.headers[name] == first.headers[name], name
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert "x-order-count" not in retry.headers, "only the listed headers are replayed"
    assert retry.headers["x-request-id"] != first.headers["x-request-id"]


async def test_the_quoted_and_the_bare_spelling_are_one_key(served: Served) -> None:
    first = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    bare = await served.client.post(
        "/orders", json={"item": "tea"}, headers={"Idempotency-Key": "order-1"}
    )
    assert bare.headers["idempotent-replayed"] == "true"
    assert bare.content == first.content
    assert served.state.runs["tea"] == 1


async def test_a_new_key_is_a_new_request(served: Served) -> None:
    for key in ("a", "b", "c"):
        response = await served.client.post(
            "/orders", json={"item": "tea"}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 201
    assert served.state.runs["tea"] == 3


async def test_the_same_key_with_another_payload_is_a_422(served: Served) -> None:
    await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    other = await served.client.post("/orders", json={"item": "coffee"}, headers=KEY)

    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert served.state.completed == 1, "the other request never ran"


async def test_the_same_body_spelled_differently_is_another_payload(served: Served) -> None:
    await served.client.post(
        "/orders", content=b'{"item":"tea"}', headers={**KEY, "Content-Type": "application/json"}
    )
    spaced = await served.client.post(
        "/orders",
        content=b'{"item": "tea"}',
        headers={**KEY, "Content-Type": "application/json"},
    )
    assert spaced.status_code == 422
    assert served.state.completed == 1


async def test_the_same_key_on_another_resource_is_a_422(served: Served) -> None:
    headers = {"Idempotency-Key": "deposit-1"}
    first = await served.client.post("/accounts/1/deposits", json={"amount": 5}, headers=headers)
    other = await served.client.post("/accounts/2/deposits", json={"amount": 5}, headers=headers)
    assert first.status_code == 200
    assert other.status_code == 422
    assert served.state.runs == {"deposit:1": 1}


async def test_a_duplicate_while_the_first_is_in_flight_is_a_409(served: Served) -> None:
    first = asyncio.create_task(served.client.post("/orders", json={"item": "hold"}, headers=KEY))
    await served.state.started.wait()

    duplicate = await served.client.post("/orders", json={"item": "hold"}, headers=KEY)
    other = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    served.state.gate.set()
    answered = await first
    retry = await served.client.post("/orders", json={"item": "hold"}, headers=KEY)

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert duplicate.headers["retry-after"] == "1"
    assert other.status_code == 422, "another payload is refused even while in flight"
    assert answered.status_code == 201
    assert retry.content == answered.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert served.state.runs["hold"] == 1
    assert served.state.attempts == 1


async def test_a_missing_key_is_a_400_where_it_is_required(served: Served) -> None:
    missing = await served.client.post("/orders", json={"item": "tea"})
    assert missing.status_code == 400
    assert missing.json()["code"] == "IDEMPOTENCY_KEY_MISSING"
    assert missing.json()["errors"] == [
        {"pointer": "/Idempotency-Key", "detail": "Field required", "location": "header"}
    ]
    assert served.state.attempts == 0


async def test_without_a_key_an_optional_route_runs_every_time(served: Served) -> None:
    for _ in range(2):
        response = await served.client.post("/accounts/1/deposits", json={"amount": 5})
        assert response.status_code == 200
        assert response.json()["key"] is None
    assert served.state.runs["deposit:1"] == 2


@pytest.mark.parametrize(
    "value",
    [
        '""',
        '"unterminated',
        "two words",
        '"k";p=1',
        "a,b",
        '"bad\\escape"',
        "é".encode("latin-1"),
        '"tab\tinside"',
        "x" * 256,
    ],
)
async def test_a_malformed_key_is_a_400(served: Served, value: str | bytes) -> None:
    raw = value if isinstance(value, bytes) else value.encode()
    response = await served.client.post(
        "/orders", json={"item": "tea"}, headers={b"Idempotency-Key": raw}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert served.state.attempts == 0


async def test_two_key_fields_are_a_400(served: Served) -> None:
    response = await served.client.post(
        "/orders",
        json={"item": "tea"},
        headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert response.status_code == 400
    assert served.state.attempts == 0


@pytest.mark.parametrize(("item", "status"), [("boom", 500), ("refused", 409)])
async def test_a_handler_that_raises_releases_the_key(
    served: Served, item: str, status: int
) -> None:
    failed = await served.client.post("/orders", json={"item": item}, headers=KEY)
    again = await served.client.post("/orders", json={"item": item}, headers=KEY)
    assert failed.status_code == again.status_code == status
    assert "idempotent-replayed" not in again.headers
    assert served.state.attempts == 2, "the retry ran instead of replaying the failure"

    retried = await served.client.post(
        "/orders", json={"item": "tea"}, headers={"Idempotency-Key": "after-failure"}
    )
    assert retried.status_code == 201


async def test_after_a_raise_the_same_request_can_be_retried_and_succeed(served: Served) -> None:
    failed = await served.client.post("/orders", json={"item": "flaky"}, headers=KEY)
    retried = await served.client.post("/orders", json={"item": "flaky"}, headers=KEY)
    replayed = await served.client.post("/orders", json={"item": "flaky"}, headers=KEY)

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == retried.content
    assert served.state.runs["flaky"] == 1
    assert served.state.attempts == 2


async def test_a_5xx_answer_is_not_kept(served: Served) -> None:
    for _ in range(2):
        response = await served.client.post("/orders", json={"item": "unavailable"}, headers=KEY)
        assert response.status_code == 503
        assert "idempotent-replayed" not in response.headers
    assert served.state.attempts == 2


async def test_keys_are_scoped_to_the_principal(served: Served) -> None:
    alice, bob = {**KEY, "X-User": "alice"}, {**KEY, "X-User": "bob"}
    alices = await served.client.post("/orders", json={"item": "tea"}, headers=alice)
    bobs = await served.client.post("/orders", json={"item": "tea"}, headers=bob)
    assert (alices.json()["id"], bobs.json()["id"]) == (1, 2)
    assert "idempotent-replayed" not in bobs.headers

    alice_again = await served.client.post("/orders", json={"item": "tea"}, headers=alice)
    bob_again = await served.client.post("/orders", json={"item": "tea"}, headers=bob)
    assert alice_again.json()["id"] == 1
    assert bob_again.json()["id"] == 2
    assert served.state.runs["tea"] == 2


async def test_an_api_key_and_its_owner_have_separate_keys(served: Served) -> None:
    user = {**KEY, "X-User": "alice"}
    api_key = {**user, "X-Api-Key": "key-1"}
    await served.client.post("/orders", json={"item": "tea"}, headers=user)
    through_key = await served.client.post("/orders", json={"item": "tea"}, headers=api_key)
    assert "idempotent-replayed" not in through_key.headers
    assert served.state.runs["tea"] == 2


async def test_keys_are_scoped_to_the_route(served: Served) -> None:
    headers = {"Idempotency-Key": "shared"}
    order = await served.client.post("/orders", json={"item": "tea"}, headers=headers)
    deposit = await served.client.post("/accounts/1/deposits", json={"amount": 1}, headers=headers)
    assert (order.status_code, deposit.status_code) == (201, 200)
    assert served.state.completed == 2


async def test_the_response_is_replayed_until_the_ttl_then_forgotten(
    served: Served, harness: Harness
) -> None:
    first = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    await harness.advance(DAY - 1)
    replay = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content

    await harness.advance(1)
    fresh = await served.client.post("/orders", json={"item": "tea"}, headers=KEY)
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["id"] == 2
    assert served.state.runs["tea"] == 2


async def test_an_abandoned_claim_expires_with_its_lease(harness: Harness) -> None:
    """A process killed mid-request holds its key for one lease, no longer."""
    fingerprint = bytes(32)
    abandoned = await claim_key(harness.store, "orphan", fingerprint, lease=60, ttl=DAY)
    assert isinstance(abandoned, Claim)
    with pytest.raises(IdempotencyKeyInUseError):
        await claim_key(harness.store, "orphan", fingerprint, lease=60, ttl=DAY)

    await harness.advance(59)
    with pytest.raises(IdempotencyKeyInUseError):
        await claim_key(harness.store, "orphan", fingerprint, lease=60, ttl=DAY)
    await harness.advance(1)
    retried = await claim_key(harness.store, "orphan", fingerprint, lease=60, ttl=DAY)
    assert isinstance(retried, Claim)
    assert retried.record.token != abandoned.record.token


async def test_a_late_release_leaves_another_requests_claim_alone(harness: Harness) -> None:
    fingerprint = bytes(32)
    late = await claim_key(harness.store, "key", fingerprint, lease=60, ttl=DAY)
    assert isinstance(late, Claim)
    await harness.advance(60)
    current = await claim_key(harness.store, "key", fingerprint, lease=60, ttl=DAY)
    assert isinstance(current, Claim)

    await late.release()
    with pytest.raises(IdempotencyKeyInUseError):
        await claim_key(harness.store, "key", fingerprint, lease=60, ttl=DAY)


async def test_a_completed_claim_answers_with_its_response(harness: Harness) -> None:
    fingerprint = bytes(32)
    claim = await claim_key(harness.store, "key", fingerprint, lease=60, ttl=DAY)
    assert isinstance(claim, Claim)
    response = StoredResponse(201, ((b"location", b"/orders/1"),), b"\x00binary\xff")
    await claim.complete(response)
    assert await claim_key(harness.store, "key", fingerprint, lease=60, ttl=DAY) == response
    with pytest.raises(IdempotencyKeyReusedError):
        await claim_key(harness.store, "key", bytes([1]) * 32, lease=60, ttl=DAY)
