"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header): retries that happen once."""

from tiered.idempotency.claims import Claim, claim_key
from tiered.idempotency.dependency import (
    DEFAULT_KEPT_HEADERS,
    Idempotency,
    IdempotentReplay,
    declared_idempotency,
)
from tiered.idempotency.errors import (
    IdempotencyKeyInUseError,
    IdempotencyKeyMissingError,
    IdempotencyKeyReusedError,
    InvalidIdempotencyKeyError,
    idempotency_problems,
)
from tiered.idempotency.install import document_idempotency, install_idempotency
from tiered.idempotency.keys import IDEMPOTENCY_KEY_HEADER, MAX_KEY_LENGTH, parse_idempotency_key
from tiered.idempotency.middleware import IdempotencyMiddleware
from tiered.idempotency.records import REPLAYED_HEADER, StoredResponse, request_fingerprint
from tiered.idempotency.resource import idempotency_store

__all__ = [
    "DEFAULT_KEPT_HEADERS",
    "IDEMPOTENCY_KEY_HEADER",
    "MAX_KEY_LENGTH",
    "REPLAYED_HEADER",
    "Claim",
    "Idempotency",
    "IdempotencyKeyInUseError",
    "IdempotencyKeyMissingError",
    "IdempotencyKeyReusedError",
    "IdempotencyMiddleware",
    "IdempotentReplay",
    "InvalidIdempotencyKeyError",
    "StoredResponse",
    "claim_key",
    "declared_idempotency",
    "document_idempotency",
    "idempotency_problems",
    "idempotency_store",
    "install_idempotency",
    "parse_idempotency_key",
    "request_fingerprint",
]
