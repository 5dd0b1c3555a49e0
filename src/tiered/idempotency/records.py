"""What is stored under an idempotency key: a claim in flight, or the response to replay.

Both carry the fingerprint of the request that made them, so a retry is
recognised (same fingerprint) and a different request reusing the key is
refused, whether the first request is still running or long finished.

The encoding is a version byte, a kind byte, the 32-byte fingerprint, then:
for a claim, a random token naming the request that holds it; for a
response, its status and headers as JSON (length-prefixed) followed by the
body's exact bytes, so a replay is byte-for-byte what the first client got.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from starlette.responses import Response

__all__ = [
    "REPLAYED_HEADER",
    "Completed",
    "InFlight",
    "Record",
    "StoredResponse",
    "decode_record",
    "request_fingerprint",
]

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on a response that replays a stored one."""

_VERSION = b"\x01"
_IN_FLIGHT = _VERSION + b"P"
_COMPLETED = _VERSION + b"C"
_FINGERPRINT_BYTES = 32
_LENGTH = struct.Struct(">I")
_REPLAYED = (REPLAYED_HEADER.lower().encode("latin-1"), b"true")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response as first sent: status, the headers worth replaying, and the body."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def replay(self) -> Response:
        """The stored response again, marked as a replay; ``Content-Length`` is recomputed."""
        response = Response(self.body, status_code=self.status)
        response.raw_headers = [
            *(item for item in response.raw_headers if item[0] == b"content-length"),
            *self.headers,
            _REPLAYED,
        ]
        return response


@dataclass(frozen=True, slots=True)
class InFlight:
    fingerprint: bytes
    token: bytes

    def encode(self) -> bytes:
        return _IN_FLIGHT + self.fingerprint + self.token


@dataclass(frozen=True, slots=True)
class Completed:
    fingerprint: bytes
    response: StoredResponse

    def encode(self) -> bytes:
        response = self.response
        meta = orjson.dumps(
            {
                "status": response.status,
                "headers": [
                    [name.decode("latin-1"), value.decode("latin-1")]
                    for name, value in response.headers
                ],
            }
        )
        return _COMPLETED + self.fingerprint + _LENGTH.pack(len(meta)) + meta + response.body


Record = InFlight | Completed


def decode_record(value: bytes) -> Record:
    """The record ``value`` encodes; ``ValueError`` for bytes no version of this code wrote."""
    kind, rest = value[:2], value[2:]
    fingerprint, rest = rest[:_FINGERPRINT_BYTES], rest[_FINGERPRINT_BYTES:]
    if len(fingerprint) != _FINGERPRINT_BYTES:
        raise ValueError("not an idempotency record")
    if kind == _IN_FLIGHT:
        return InFlight(fingerprint, rest)
    if kind != _COMPLETED or len(rest) < _LENGTH.size:
        raise ValueError("not an idempotency record")
    (length,) = _LENGTH.unpack_from(rest)
    meta = orjson.loads(rest[_LENGTH.size : _LENGTH.size + length])
    headers = tuple(
        (str(name).encode("latin-1"), str(header).encode("latin-1"))
        for name, header in meta["headers"]
    )
    body = rest[_LENGTH.size + length :]
    return Completed(fingerprint, StoredResponse(int(meta["status"]), headers, body))


def request_fingerprint(
    method: str, path: str, query: bytes, content_type: bytes, body_digest: bytes
) -> bytes:
    """SHA-256 over what makes two requests the same request (each part length-prefixed).

    The path and query are part of it because the key is scoped to the route
    *template*: the same key on ``/markets/1/positions`` and
    ``/markets/2/positions`` is two requests, not a retry.
    """
    digest = hashlib.sha256()
    for part in _parts(
        method.encode("latin-1"),
        path.encode("utf-8", "surrogatepass"),
        query,
        content_type,
        body_digest,
    ):
        digest.update(part)
    return digest.digest()


def _parts(*parts: bytes) -> Iterable[bytes]:
    for part in parts:
        yield _LENGTH.pack(len(part))
        yield part
