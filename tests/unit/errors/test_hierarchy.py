"""The error hierarchy: defaults, overrides and the headers each class needs."""

from __future__ import annotations

import re
import subprocess
import sys

import orjson
import pytest

from tiered.errors import (
    PROBLEM_MEDIA_TYPE,
    AppError,
    AuthenticationError,
    AuthorizationError,
    CacheError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ConflictError,
    DatabaseMisuseError,
    DatabaseUnavailableError,
    DuplicateResourceError,
    ExternalServiceError,
    FieldError,
    InternalError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ProcessingError,
    RateLimitError,
    StaleVersionError,
    TransactionConflictError,
    UnprocessableContentError,
    ValidationError,
    problem_for_error,
)

# class, parent, status, code, title, slug
HIERARCHY: list[tuple[type[AppError], type[Exception], int, str, str, str]] = [
    (AppError, Exception, 500, "INTERNAL_ERROR", "Internal Server Error", "internal-error"),
    (ValidationError, AppError, 400, "VALIDATION_ERROR", "Bad Request", "validation-error"),
    (InvalidInputError, ValidationError, 400, "INVALID_INPUT", "Invalid Input", "invalid-input"),
    (
        UnprocessableContentError,
        ValidationError,
        422,
        "REQUEST_VALIDATION_FAILED",
        "Unprocessable Content",
        "request-validation-failed",
    ),
    (
        AuthenticationError,
        AppError,
        401,
        "AUTHENTICATION_REQUIRED",
        "Unauthorized",
        "authentication-required",
    ),
    (AuthorizationError, AppError, 403, "FORBIDDEN", "Forbidden", "forbidden"),
    (NotFoundError, AppError, 404, "NOT_FOUND", "Not Found", "not-found"),
    (ConflictError, AppError, 409, "CONFLICT", "Conflict", "conflict"),
    (
        DuplicateResourceError,
        ConflictError,
        409,
        "DUPLICATE_RESOURCE",
        "Duplicate Resource",
        "duplicate-resource",
    ),
    (StaleVersionError, ConflictError, 409, "STALE_VERSION", "Stale Version", "stale-version"),
    (
        TransactionConflictError,
        ConflictError,
        409,
        "TRANSACTION_CONFLICT",
        "Transaction Conflict",
        "transaction-conflict",
    ),
    (
        PreconditionFailedError,
        AppError,
        412,
        "PRECONDITION_FAILED",
        "Precondition Failed",
        "precondition-failed",
    ),
    (
        PayloadTooLargeError,
        AppError,
        413,
        "PAYLOAD_TOO_LARGE",
        "Payload Too Large",
        "payload-too-large",
    ),
    (RateLimitError, AppError, 429, "RATE_LIMITED", "Too Many Requests", "rate-limited"),
    (
        ExternalServiceError,
        AppError,
        503,
        "SERVICE_UNAVAILABLE",
        "Service Unavailable",
        "service-unavailable",
    ),
    (
        DatabaseUnavailableError,
        ExternalServiceError,
        503,
        "DATABASE_UNAVAILABLE",
        "Database Unavailable",
        "database-unavailable",
    ),
    (
        CacheError,
        ExternalServiceError,
        503,
        "CACHE_UNAVAILABLE",
        "Cache Unavailable",
        "cache-unavailable",
    ),
    (
        CircuitBreakerOpenError,
        ExternalServiceError,
        503,
        "CIRCUIT_OPEN",
        "Circuit Open",
        "circuit-open",
    ),
    (InternalError, AppError, 500, "INTERNAL_ERROR", "Internal Server Error", "internal-error"),
    (
        DatabaseMisuseError,
        InternalError,
        500,
        "INTERNAL_ERROR",
        "Internal Server Error",
        "internal-error",
    ),
    (
        ConfigurationError,
        InternalError,
        500,
        "CONFIGURATION_ERROR",
        "Configuration Error",
        "configuration-error",
    ),
    (
        ProcessingError,
        InternalError,
        500,
        "PROCESSING_ERROR",
        "Processing Error",
        "processing-error",
    ),
]
CLASSES = [row[0] for row in HIERARCHY]
RETRYABLE = [RateLimitError, ExternalServiceError, DatabaseUnavailableError, CacheError]
RETRYABLE += [CircuitBreakerOpenError, TransactionConflictError]
RETRY_AFTER_ONE = (RateLimitError, TransactionConflictError)
SAME_AS_INTERNAL_ERROR = (InternalError, DatabaseMisuseError)
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


def body_of(error: AppError) -> dict[str, object]:
    response = problem_for_error(error, instance="/things/1", request_id="req-1")
    return orjson.loads(response.body)


@pytest.mark.parametrize(
    ("cls", "parent", "status", "code", "title", "slug"),
    HIERARCHY,
    ids=[cls.__name__ for cls in CLASSES],
)
def test_class_defaults(
    *, cls: type[AppError], parent: type[Exception], status: int, code: str, title: str, slug: str
) -> None:
    public_ancestors = [c for c in cls.__mro__[1:] if not c.__name__.startswith("_")]
    assert public_ancestors[0] is parent
    assert (cls.status, cls.code, cls.title, cls.slug) == (status, code, title, slug)
    error = cls()
    assert (error.status, error.code, error.title) == (status, code, title)
    assert error.message == title, "without a message the title is the detail"
    assert cls.description, "every problem type documents itself"
    assert SLUG.fullmatch(cls.slug)
    assert CODE.fullmatch(cls.code)


@pytest.mark.parametrize(
    ("cls", "status", "code", "title", "slug"), [r[:1] + r[2:] for r in HIERARCHY]
)
def test_rendered_problem_follows_the_class(
    cls: type[AppError], status: int, code: str, title: str, slug: str
) -> None:
    response = problem_for_error(cls("It went wrong."), instance="/things/1", request_id="req-1")
    assert response.status_code == status
    assert response.media_type == PROBLEM_MEDIA_TYPE
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert orjson.loads(response.body) == {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": "It went wrong.",
        "instance": "/things/1",
        "code": code,
        "request_id": "req-1",
    }


def test_hierarchy_covers_every_exported_error_class() -> None:
    from tiered import errors

    exported = {
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), AppError)
    }
    assert exported == set(CLASSES)


def test_codes_and_slugs_are_unique_per_problem_type() -> None:
    own = [row for row in HIERARCHY if row[0] not in SAME_AS_INTERNAL_ERROR]
    assert len({row[3] for row in own}) == len(own)
    assert len({row[5] for row in own}) == len(own)


@pytest.mark.parametrize("cls", CLASSES, ids=[cls.__name__ for cls in CLASSES])
def test_code_override_is_per_instance(cls: type[AppError]) -> None:
    custom = cls("Market 7 does not exist.", code="MARKET_NOT_FOUND")
    assert custom.code == "MARKET_NOT_FOUND"
    assert body_of(custom)["code"] == "MARKET_NOT_FOUND"
    assert body_of(custom)["status"] == cls.status
    assert cls().code == cls.code != "MARKET_NOT_FOUND", "the class default is untouched"


def test_message_is_the_detail_and_str() -> None:
    error = NotFoundError("Market 7 does not exist.")
    assert str(error) == error.message == "Market 7 does not exist."
    assert body_of(error)["detail"] == "Market 7 does not exist."


def test_details_are_merged_into_the_body() -> None:
    error = ConflictError(
        "Market 7 is closed.",
        code="MARKET_CLOSED",
        details={"market_id": 7, "allowed": ["active"], "nested": {"a": 1}},
    )
    body = body_of(error)
    assert body["market_id"] == 7
    assert body["allowed"] == ["active"]
    assert body["nested"] == {"a": 1}
    assert body["code"] == "MARKET_CLOSED"
    assert body["status"] == 409


def test_details_cannot_override_the_standard_members() -> None:
    error = NotFoundError(
        "real detail",
        details={
            "type": "https://evil.example/",
            "status": 200,
            "title": "OK",
            "detail": "fake",
            "instance": "/other",
            "code": "FAKE",
            "request_id": "forged",
        },
    )
    body = body_of(error)
    assert body == {
        "type": "/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "real detail",
        "instance": "/things/1",
        "code": "NOT_FOUND",
        "request_id": "req-1",
    }


def test_details_are_copied_not_shared() -> None:
    details = {"market_id": 7}
    error = NotFoundError("x", details=details)
    details["market_id"] = 8
    assert error.details == {"market_id": 7}


def test_validation_errors_list_field_errors() -> None:
    error = InvalidInputError(
        "Two values are invalid.",
        errors=[
            FieldError("/name", "Too short"),
            FieldError("/limit", "Too large", "query"),
        ],
    )
    body = body_of(error)
    assert body["status"] == 400
    assert body["errors"] == [
        {"pointer": "/name", "detail": "Too short", "location": "body"},
        {"pointer": "/limit", "detail": "Too large", "location": "query"},
    ]


def test_validation_error_without_field_errors_has_no_errors_member() -> None:
    assert "errors" not in body_of(InvalidInputError("bad"))


@pytest.mark.parametrize("cls", RETRYABLE, ids=[cls.__name__ for cls in RETRYABLE])
def test_retryable_errors_carry_retry_after(cls: type[RateLimitError]) -> None:
    default = cls()
    expected = "1" if cls in RETRY_AFTER_ONE else "5"
    assert default.headers() == {"Retry-After": expected}
    response = problem_for_error(cls(retry_after=30), instance="/x", request_id=None)
    assert response.headers["retry-after"] == "30"
    assert cls(retry_after=-4).headers() == {"Retry-After": "0"}, "never a negative delay"


@pytest.mark.parametrize(
    "cls",
    [c for c in CLASSES if c not in RETRYABLE],
    ids=[c.__name__ for c in CLASSES if c not in RETRYABLE],
)
def test_other_errors_carry_no_retry_after(cls: type[AppError]) -> None:
    response = problem_for_error(cls(), instance="/x", request_id=None)
    assert "retry-after" not in response.headers


def test_transaction_conflict_is_the_only_retryable_conflict() -> None:
    conflicts = [cls for cls in CLASSES if issubclass(cls, ConflictError)]
    retryable = [cls for cls in conflicts if "Retry-After" in cls().headers()]
    assert retryable == [TransactionConflictError]


def test_database_misuse_looks_like_any_internal_error_on_the_wire() -> None:
    misuse = body_of(DatabaseMisuseError("It went wrong."))
    internal = body_of(InternalError("It went wrong."))
    assert misuse == internal


def test_authentication_error_carries_www_authenticate() -> None:
    response = problem_for_error(
        AuthenticationError("Token expired."), instance="/x", request_id=None
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    forbidden = problem_for_error(AuthorizationError(), instance="/x", request_id=None)
    assert "www-authenticate" not in forbidden.headers


def test_field_error_defaults_to_the_body() -> None:
    assert FieldError("/a", "bad").as_dict() == {
        "pointer": "/a",
        "detail": "bad",
        "location": "body",
    }


@pytest.mark.parametrize("module", ["tiered.app", "tiered.db"])
def test_package_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """Regression: tiered.db ↔ tiered.errors once formed an import cycle that broke these."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
