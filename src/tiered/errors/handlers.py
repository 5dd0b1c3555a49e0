"""Exception handlers: every error source becomes ``application/problem+json``.

Unhandled exceptions are caught by the request-context middleware (so the 500
still carries the request id and security headers); everything else lands
here, inside Starlette's exception middleware.

A 5xx that a database error caused, whether it arrives raw or already
translated by a repository, is logged at ``error`` with the driver's message,
its SQLSTATE (or SQLite code) and the traceback: the response says only that
it happened, so the log must say everything.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from tiered.errors.database import (
    database_error_fields,
    is_database_error,
    translate_database_error,
)
from tiered.errors.hierarchy import (
    AppError,
    CacheError,
    ExternalServiceError,
    FieldError,
    UnprocessableContentError,
)
from tiered.errors.problem import problem_for_error, problem_for_status
from tiered.http.request_id import request_id_of
from tiered.observability.logging import get_logger

__all__ = ["field_errors_from_validation", "install_problem_handlers", "render_error"]

_log = get_logger("tiered.errors")
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def render_error(request: Request, error: AppError) -> Response:
    return problem_for_error(
        error, instance=request.url.path, request_id=request_id_of(request.scope)
    )


def _log_database_failure(error: AppError, raised: BaseException, driver: BaseException) -> None:
    if error.status >= 500:
        _log.error(
            "database_error",
            status=error.status,
            code=error.code,
            **database_error_fields(driver),
            exc_info=raised,
        )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    cause = exc.__cause__
    if cause is not None and is_database_error(cause):
        _log_database_failure(exc, exc, cause)
    elif exc.status >= 500:
        _log.error("app_error", code=exc.code, error=exc.message)
    return render_error(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem_for_status(
        exc.status_code,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        detail=detail,
        headers=headers,
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (RFC 9110 §15.5.6).

    The router answers 405 with the methods of the *first* route whose path
    matches; an API usually declares ``GET /items`` and ``POST /items`` as two
    routes, so that answer would leave one out.
    """
    probe = {
        "type": "http",
        "method": "",
        "path": request.scope["path"],
        "root_path": request.scope.get("app_root_path", request.scope.get("root_path", "")),
    }
    allowed: set[str] = set()
    for context in iter_route_contexts(list(request.app.routes)):
        match, _ = context.matches(probe)
        methods = getattr(context.original_route, "methods", None)
        if match is not Match.NONE and methods:
            allowed.update(methods)
    return ", ".join(sorted(allowed))


def _pointer(parts: tuple[Any, ...]) -> str:
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "".join(f"/{part}" for part in escaped)


def field_errors_from_validation(errors: Any) -> list[FieldError]:
    """FastAPI/pydantic error entries → JSON-pointer field errors."""
    result = []
    for entry in errors:
        loc = tuple(entry.get("loc", ()))
        location = str(loc[0]) if loc and loc[0] in _LOCATIONS else "body"
        path = loc[1:] if loc and loc[0] in _LOCATIONS else loc
        if entry.get("type") == "json_invalid":
            path = ()  # the offset of a syntax error is not a place in the document
        result.append(FieldError(_pointer(path), str(entry.get("msg", "Invalid value")), location))
    return result


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors_from_validation(exc.errors())
    count = len(errors)
    message = f"The request has {count} invalid value{'s' if count != 1 else ''}."
    return render_error(request, UnprocessableContentError(message, errors=errors))


async def _database_error(request: Request, exc: Exception) -> Response:
    """SQLAlchemy and driver errors that no repository translated (a route's own query)."""
    translated = translate_database_error(exc)
    if translated is None:
        raise exc
    _log_database_failure(translated, exc, exc)
    return render_error(request, translated)


async def _redis_error(request: Request, exc: Exception) -> Response:
    _log.warning("redis_unavailable", error_type=type(exc).__name__)
    return render_error(request, CacheError("The cache is unavailable."))


async def _os_error(request: Request, exc: Exception) -> Response:
    """A driver that cannot connect raises builtins (``ConnectionRefusedError``, ``gaierror``)."""
    if is_database_error(exc):
        return await _database_error(request, exc)
    if not isinstance(exc, ConnectionError | TimeoutError):
        raise exc
    _log.warning("dependency_unreachable", error_type=type(exc).__name__, error=str(exc))
    return render_error(request, ExternalServiceError("A dependency could not be reached."))


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers; the catch-all 500 lives in the request-context middleware."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.add_exception_handler(sqlite3.Error, _database_error)
    app.add_exception_handler(OverflowError, _database_error)
    app.add_exception_handler(RedisError, _redis_error)
    app.add_exception_handler(OSError, _os_error)
