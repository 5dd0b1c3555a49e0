"""The middleware on raw ASGI messages: what it hashes, holds back, keeps and gives up."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tiered.idempotency import Claim, IdempotencyMiddleware, claim_key
from tiered.idempotency.middleware import SLOT, RequestSlot
from tiered.idempotency.records import Completed, decode_record
from tiered.store import MemoryStore

Message = dict[str, Any]
KEYED = [(b"idempotency-key", b"k")]


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/x", "headers": headers}


async def _run(app: Any, scope: dict[str, Any], body: list[bytes]) -> list[Message]:
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": index < len(body) - 1}
        for index, chunk in enumerate(body)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await IdempotencyMiddleware(app)(scope, receive, send)
    return sent


async def _claim(store: MemoryStore) -> Claim:
    claim = await claim_key(store, "k", bytes(32), lease=60, ttl=3600)
    assert isinstance(claim, Claim)
    return claim


def _armed_app(claim: Claim, messages: list[Message], *, max_bytes: int = 1024) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        slot = scope[SLOT]
        slot.arm(claim, kept_headers=frozenset({b"content-type"}), max_bytes=max_bytes)
        claim.handled = True
        for message in messages:
            await send(message)

    return app


START = {"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"a/b")]}


async def test_a_request_without_a_key_passes_untouched() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)
        await send(START)

    sent = await _run(app, _scope([(b"content-type", b"a/b")]), [b"{}"])
    assert SLOT not in seen[0]
    assert sent == [START]


async def test_the_body_is_hashed_as_the_app_reads_it() -> None:
    slots: list[RequestSlot] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        slots.append(scope[SLOT])
        assert not scope[SLOT].body_complete
        while (await receive())["more_body"]:
            pass

    await _run(app, _scope(KEYED), [b"ab", b"", b"cd"])
    assert slots[0].body_complete
    assert slots[0].body_digest.digest() == hashlib.sha256(b"abcd").digest()


async def test_a_kept_response_is_stored_then_sent_in_one_piece() -> None:
    store = MemoryStore()
    claim = await _claim(store)
    messages = [
        START,
        {"type": "http.response.body", "body": b"he", "more_body": True},
        {"type": "http.response.body", "body": b"llo", "more_body": False},
    ]
    sent = await _run(_armed_app(claim, messages), _scope(KEYED), [b""])
    assert sent == [START, {"type": "http.response.body", "body": b"hello", "more_body": False}]
    stored = await store.get("k")
    assert stored is not None
    record = decode_record(stored)
    assert isinstance(record, Completed)
    assert (record.response.status, record.response.body) == (201, b"hello")
    assert record.response.headers == ((b"content-type", b"a/b"),)


async def test_a_message_that_cannot_be_replayed_releases_the_key() -> None:
    store = MemoryStore()
    claim = await _claim(store)
    pathsend = {"type": "http.response.pathsend", "path": "/tmp/file"}
    sent = await _run(_armed_app(claim, [START, pathsend]), _scope(KEYED), [b""])
    assert sent == [START, pathsend]
    assert await store.get("k") is None


async def test_a_body_over_the_limit_is_passed_on_as_it_comes() -> None:
    store = MemoryStore()
    claim = await _claim(store)
    messages = [
        START,
        {"type": "http.response.body", "body": b"abc", "more_body": True},
        {"type": "http.response.body", "body": b"def", "more_body": True},
        {"type": "http.response.body", "body": b"g", "more_body": False},
    ]
    sent = await _run(_armed_app(claim, messages, max_bytes=4), _scope(KEYED), [b""])
    assert sent == [
        START,
        {"type": "http.response.body", "body": b"abcdef", "more_body": True},
        {"type": "http.response.body", "body": b"g", "more_body": False},
    ]
    assert await store.get("k") is None


async def test_an_app_that_fails_after_the_claim_releases_it() -> None:
    store = MemoryStore()
    claim = await _claim(store)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope[SLOT].arm(claim, kept_headers=frozenset(), max_bytes=1024)
        raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await _run(app, _scope(KEYED), [b""])
    assert claim.settled
    assert await store.get("k") is None
