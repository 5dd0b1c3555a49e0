"""Stored records come back as they went in; fingerprints tell requests apart."""

from __future__ import annotations

import pytest

from tiered.idempotency import StoredResponse, request_fingerprint
from tiered.idempotency.records import Completed, InFlight, decode_record

FINGERPRINT = bytes(range(32))
BASE = ("POST", "/orders", b"a=1", b"application/json", bytes(32))


def test_an_in_flight_record_round_trips() -> None:
    record = InFlight(FINGERPRINT, b"t" * 16)
    assert decode_record(record.encode()) == record


@pytest.mark.parametrize("body", [b"", b"{}", b"\x00\xff binary \r\n" * 1000])
def test_a_completed_record_keeps_the_exact_bytes(body: bytes) -> None:
    headers = ((b"content-type", b"application/json"), (b"link", b"<a>"), (b"link", b"<b>"))
    record = Completed(FINGERPRINT, StoredResponse(201, headers, body))
    assert decode_record(record.encode()) == record


@pytest.mark.parametrize(
    "value", [b"", b"\x01P", b"\x01X" + FINGERPRINT, b"\x02C" + FINGERPRINT, b"\x01C" + FINGERPRINT]
)
def test_foreign_bytes_are_refused(value: bytes) -> None:
    with pytest.raises(ValueError, match="idempotency record"):
        decode_record(value)


def test_a_replay_repeats_status_headers_and_body() -> None:
    stored = StoredResponse(201, ((b"location", b"/orders/1"), (b"link", b"<a>")), b'{"id":1}')
    response = stored.replay()
    assert response.status_code == 201
    assert response.body == b'{"id":1}'
    assert response.raw_headers == [
        (b"content-length", b"8"),
        (b"location", b"/orders/1"),
        (b"link", b"<a>"),
        (b"idempotent-replayed", b"true"),
    ]


@pytest.mark.parametrize(
    "changed",
    [
        ("PUT", *BASE[1:]),
        (BASE[0], "/orders/2", *BASE[2:]),
        (*BASE[:2], b"a=2", *BASE[3:]),
        (*BASE[:3], b"text/plain", BASE[4]),
        (*BASE[:4], bytes([1]) * 32),
    ],
    ids=["method", "path", "query", "content-type", "body"],
)
def test_every_part_of_the_request_changes_the_fingerprint(
    changed: tuple[str, str, bytes, bytes, bytes],
) -> None:
    assert request_fingerprint(*changed) != request_fingerprint(*BASE)
    assert request_fingerprint(*BASE) == request_fingerprint(*BASE)


def test_parts_cannot_slide_into_each_other() -> None:
    assert request_fingerprint("POST", "/a", b"b", b"", bytes(32)) != request_fingerprint(
        "POST", "/ab", b"", b"", bytes(32)
    )
