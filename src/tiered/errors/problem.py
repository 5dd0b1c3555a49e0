"""The problem-details document (RFC 9457) and its HTTP response."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tiered.errors.hierarchy import AppError, FieldError, ValidationError

__all__ = [
    "PROBLEMS_PATH",
    "PROBLEM_MEDIA_TYPE",
    "FieldErrorModel",
    "ProblemDetails",
    "ProblemResponse",
    "problem_document",
    "problem_for_error",
    "problem_for_status",
    "problem_type_uri",
    "status_document",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEMS_PATH = "/problems"


class FieldErrorModel(BaseModel):
    """One invalid value: where it is and what is wrong with it."""

    pointer: str = Field(description="RFC 6901 JSON pointer into the part named by `location`.")
    detail: str
    location: str = Field(description="body, query, path, header or cookie")


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document, with the extension members tiered always adds."""

    model_config = ConfigDict(extra="allow", title="ProblemDetails")

    type: str = Field(description="URI of the problem type; dereference it for documentation.")
    title: str
    status: int = Field(ge=100, le=599)
    detail: str
    instance: str = Field(description="The request path that produced this problem.")
    code: str = Field(description="Stable machine-readable code, e.g. MARKET_NOT_FOUND.")
    request_id: str | None = Field(default=None, description="Echo of X-Request-ID.")
    errors: list[FieldErrorModel] | None = Field(
        default=None, description="Present on validation problems: one entry per invalid value."
    )


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem_type_uri(slug: str) -> str:
    """Problem ``type`` URIs are relative references to the app's own docs page."""
    return f"{PROBLEMS_PATH}/{slug}"


def _document(
    *,
    type_: str,
    title: str,
    status: int,
    detail: str,
    instance: str,
    code: str,
    request_id: str | None,
    extensions: Mapping[str, Any] | None = None,
    errors: list[FieldError] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = dict(extensions or {})
    body.update(
        type=type_,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        code=code,
        request_id=request_id,
    )
    if errors:
        body["errors"] = [error.as_dict() for error in errors]
    return body


def problem_document(error: AppError, *, instance: str, request_id: str | None) -> dict[str, Any]:
    """The body an :class:`AppError` renders as; OpenAPI examples are built with it too."""
    return _document(
        type_=problem_type_uri(error.slug),
        title=error.title,
        status=error.status,
        detail=error.message,
        instance=instance,
        code=error.code,
        request_id=request_id,
        extensions=error.details,
        errors=error.errors if isinstance(error, ValidationError) else None,
    )


def status_document(
    status: int, *, instance: str, request_id: str | None, detail: str | None = None
) -> dict[str, Any]:
    """The body of a plain HTTP error: ``type`` is ``about:blank``, ``code`` the status name."""
    phrase = HTTPStatus(status).phrase
    return _document(
        type_="about:blank",
        title=phrase,
        status=status,
        detail=detail or phrase,
        instance=instance,
        code=HTTPStatus(status).name,
        request_id=request_id,
    )


def problem_for_error(error: AppError, *, instance: str, request_id: str | None) -> ProblemResponse:
    """Render an :class:`AppError` with the status, code and headers it declares."""
    body = problem_document(error, instance=instance, request_id=request_id)
    return ProblemResponse(body, status_code=error.status, headers=error.headers())


def problem_for_status(
    status: int,
    *,
    instance: str,
    request_id: str | None,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """A plain HTTP error (unknown route, wrong method): ``type`` is ``about:blank``."""
    body = status_document(status, instance=instance, request_id=request_id, detail=detail)
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))
