"""The problems an idempotent route answers, worded once for the wire and the docs.

Each problem has its own type (and ``/problems/{slug}`` page) and a stable
``code``, so a client can tell "send a key" from "wait for the first request"
from "this key belongs to another request" without reading prose. The
functions below build each error exactly as it is raised, so
:func:`idempotency_problems` documents what clients really receive.
"""

from __future__ import annotations

from typing import ClassVar

from tiered.errors.hierarchy import (
    AppError,
    ConflictError,
    FieldError,
    InvalidInputError,
    UnprocessableContentError,
)

__all__ = [
    "MALFORMED_KEY",
    "IdempotencyKeyInUseError",
    "IdempotencyKeyMissingError",
    "IdempotencyKeyReusedError",
    "InvalidIdempotencyKeyError",
    "idempotency_problems",
    "invalid_key",
    "key_in_use",
    "key_missing",
    "key_reused",
]

_POINTER = "/Idempotency-Key"
MALFORMED_KEY = (
    'An Idempotency-Key is a quoted string such as "8e03978e-40d5-43e8", '
    "or the same key unquoted, of printable ASCII."
)


class IdempotencyKeyMissingError(InvalidInputError):
    code = "IDEMPOTENCY_KEY_MISSING"
    title = "Idempotency Key Missing"
    slug = "idempotency-key-missing"
    description = (
        "This operation must be made safe to retry: send a unique `Idempotency-Key` "
        "header with it, and the same key with each retry."
    )


class InvalidIdempotencyKeyError(InvalidInputError):
    code = "INVALID_IDEMPOTENCY_KEY"
    title = "Invalid Idempotency Key"
    slug = "invalid-idempotency-key"
    description = (
        "The `Idempotency-Key` header is malformed: send one quoted string of 1 to 255 "
        'printable ASCII characters, such as `"8e03978e-40d5-43e8"`.'
    )


class IdempotencyKeyInUseError(ConflictError):
    """The first request with this key is still running: retry once it has answered."""

    code = "IDEMPOTENCY_KEY_IN_USE"
    title = "Idempotency Key In Use"
    slug = "idempotency-key-in-use"
    description = (
        "A request with the same `Idempotency-Key` is still being processed; send the "
        "retry after `Retry-After` seconds to receive its response."
    )
    retry_after: ClassVar[int] = 1

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class IdempotencyKeyReusedError(UnprocessableContentError):
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "Idempotency Key Reused"
    slug = "idempotency-key-reused"
    description = (
        "The `Idempotency-Key` was already used for a different request (another body, "
        "path, query or content type); use a new key for a new request."
    )


def key_missing() -> IdempotencyKeyMissingError:
    return IdempotencyKeyMissingError(
        "This operation requires an Idempotency-Key header.",
        errors=[FieldError(_POINTER, "Field required", "header")],
    )


def invalid_key(detail: str) -> InvalidIdempotencyKeyError:
    return InvalidIdempotencyKeyError(
        detail, errors=[FieldError(_POINTER, "Malformed Idempotency-Key", "header")]
    )


def key_in_use() -> IdempotencyKeyInUseError:
    return IdempotencyKeyInUseError(
        "A request with this Idempotency-Key is still being processed; retry shortly."
    )


def key_reused() -> IdempotencyKeyReusedError:
    return IdempotencyKeyReusedError(
        "This Idempotency-Key was already used for a different request.",
        errors=[FieldError(_POINTER, "Key used for another request", "header")],
    )


def idempotency_problems(*, required: bool = False) -> tuple[AppError, ...]:
    """The problems a route with ``Idempotency.key(required=...)`` may answer.

    For the route's ``responses=problem_responses(...)``. A malformed key is
    always a 400; a missing one only where the key is required.
    """
    problems: list[AppError] = [
        invalid_key(MALFORMED_KEY),
        key_in_use(),
        key_reused(),
    ]
    if required:
        problems.insert(0, key_missing())
    return tuple(problems)
