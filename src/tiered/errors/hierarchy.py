"""The application error hierarchy.

Each class carries the defaults a problem-details response needs (HTTP status,
stable machine ``code``, human ``title`` and the ``slug`` of its documentation
page), so raising an error anywhere in a service is enough to produce a correct
RFC 9457 response at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AppError",
    "AuthenticationError",
    "AuthorizationError",
    "CacheError",
    "CircuitBreakerOpenError",
    "ConfigurationError",
    "ConflictError",
    "DatabaseMisuseError",
    "DatabaseUnavailableError",
    "DuplicateResourceError",
    "ExternalServiceError",
    "FieldError",
    "InternalError",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "ProcessingError",
    "RateLimitError",
    "StaleVersionError",
    "TransactionConflictError",
    "UnprocessableContentError",
    "ValidationError",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input value.

    ``pointer`` is an RFC 6901 JSON pointer into the part of the request named
    by ``location`` (``body``, ``query``, ``path``, ``header`` or ``cookie``).
    """

    pointer: str
    detail: str
    location: str = "body"

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail, "location": self.location}


class AppError(Exception):
    """Base of every error the application raises on purpose.

    ``message`` becomes the problem ``detail``; ``code`` overrides the class's
    stable machine code (``MARKET_NOT_FOUND`` rather than ``NOT_FOUND``);
    ``details`` are extra, client-safe members merged into the problem body.
    """

    status: ClassVar[int] = 500
    code: str = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal Server Error"
    slug: ClassVar[str] = "internal-error"
    description: ClassVar[str] = "The server failed to complete a valid request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.title
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Response headers this error requires (``Retry-After``, ``Allow``…)."""
        return {}


class ValidationError(AppError):
    status = 400
    code = "VALIDATION_ERROR"
    title = "Bad Request"
    slug = "validation-error"
    description = "The request is malformed or one of its values is not acceptable."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.errors = list(errors or [])


class UnprocessableContentError(ValidationError):
    status = 422
    code = "REQUEST_VALIDATION_FAILED"
    title = "Unprocessable Content"
    slug = "request-validation-failed"
    description = (
        "The request is well-formed but its values fail the route's schema; "
        "`errors` lists each failing value with a JSON pointer to it."
    )


class InvalidInputError(ValidationError):
    code = "INVALID_INPUT"
    title = "Invalid Input"
    slug = "invalid-input"
    description = "One or more input values failed validation; `errors` lists each one."


class AuthenticationError(AppError):
    status = 401
    code = "AUTHENTICATION_REQUIRED"
    title = "Unauthorized"
    slug = "authentication-required"
    description = "The request lacks valid credentials (missing, expired or forged)."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class AuthorizationError(AppError):
    status = 403
    code = "FORBIDDEN"
    title = "Forbidden"
    slug = "forbidden"
    description = "The authenticated principal lacks the permission this action needs."


class NotFoundError(AppError):
    status = 404
    code = "NOT_FOUND"
    title = "Not Found"
    slug = "not-found"
    description = "The resource does not exist, or is not visible to the caller."


class ConflictError(AppError):
    status = 409
    code = "CONFLICT"
    title = "Conflict"
    slug = "conflict"
    description = "The request conflicts with the current state of the resource."


class DuplicateResourceError(ConflictError):
    code = "DUPLICATE_RESOURCE"
    title = "Duplicate Resource"
    slug = "duplicate-resource"
    description = "A resource with the same unique value already exists."


class StaleVersionError(ConflictError):
    code = "STALE_VERSION"
    title = "Stale Version"
    slug = "stale-version"
    description = "Another writer changed the resource since it was read; re-read it and retry."

    @classmethod
    def of(cls, subject: str = "The resource") -> StaleVersionError:
        """The conflict for ``subject`` (an entity name), worded alike everywhere."""
        return cls(f"{subject} was changed by another writer; re-read it and retry.")


class PreconditionFailedError(AppError):
    status = 412
    code = "PRECONDITION_FAILED"
    title = "Precondition Failed"
    slug = "precondition-failed"
    description = "A conditional header (such as `If-Match`) did not match the resource."


class PayloadTooLargeError(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload Too Large"
    slug = "payload-too-large"
    description = "The request body exceeds the size this route accepts."


class _RetryableError(AppError):
    """An error the client may retry after ``retry_after`` seconds."""

    default_retry_after: ClassVar[int] = 1

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = max(
            0, retry_after if retry_after is not None else self.default_retry_after
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimitError(_RetryableError):
    status = 429
    code = "RATE_LIMITED"
    title = "Too Many Requests"
    slug = "rate-limited"
    description = "The client sent too many requests; wait `Retry-After` seconds."


class ExternalServiceError(_RetryableError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service Unavailable"
    slug = "service-unavailable"
    description = "A dependency is unavailable; the request may succeed after `Retry-After`."
    default_retry_after = 5


class DatabaseUnavailableError(ExternalServiceError):
    code = "DATABASE_UNAVAILABLE"
    title = "Database Unavailable"
    slug = "database-unavailable"
    description = "The database cannot be reached right now; retry after `Retry-After`."


class CacheError(ExternalServiceError):
    code = "CACHE_UNAVAILABLE"
    title = "Cache Unavailable"
    slug = "cache-unavailable"
    description = "The cache cannot be reached and the request could not be served without it."


class TransactionConflictError(ConflictError, _RetryableError):
    """A transaction lost a race the database detected and was rolled back.

    Serialization failures, deadlocks, locks that could not be taken and (on
    SQLite) writes on a stale snapshot all mean the same to a client: nothing
    was changed, and the same request may succeed if it is sent again. Unlike
    :class:`StaleVersionError`, the client need not re-read anything first,
    which is why this 409 carries ``Retry-After``.
    """

    code = "TRANSACTION_CONFLICT"
    title = "Transaction Conflict"
    slug = "transaction-conflict"
    description = (
        "The request collided with a concurrent transaction and changed nothing; "
        "send it again after `Retry-After` seconds."
    )


class CircuitBreakerOpenError(ExternalServiceError):
    code = "CIRCUIT_OPEN"
    title = "Circuit Open"
    slug = "circuit-open"
    description = "A dependency failed repeatedly; calls to it are paused for `Retry-After`."


class InternalError(AppError):
    pass


class DatabaseMisuseError(InternalError):
    """A database call the application got wrong: bad SQL, a missing table, too many parameters.

    It is a bug, not an outage, so it is a 500 that looks exactly like any other
    500 on the wire (same slug and code); the class only lets code and logs tell
    it apart from other internal errors.
    """


class ConfigurationError(InternalError):
    code = "CONFIGURATION_ERROR"
    title = "Configuration Error"
    slug = "configuration-error"
    description = "The server is misconfigured."


class ProcessingError(InternalError):
    code = "PROCESSING_ERROR"
    title = "Processing Error"
    slug = "processing-error"
    description = "The server failed while processing the request."
