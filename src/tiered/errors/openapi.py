"""Declare problem responses in the OpenAPI document.

Clients and schema-driven fuzzers read the spec to learn what a route may
answer; an undeclared 422 or 503 is a conformance failure. Routes declare
their specific problems with :func:`problem_responses`; :func:`document_problems`
then adds what every route can produce and puts all of them under
``application/problem+json`` with the :class:`ProblemDetails` schema.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from tiered.errors.problem import PROBLEM_MEDIA_TYPE, ProblemDetails

__all__ = ["document_problems", "problem_responses"]

_SCHEMA_NAME = "ProblemDetails"
_REF = {"$ref": f"#/components/schemas/{_SCHEMA_NAME}"}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the problems a route raises on purpose."""
    return {
        status: {"model": ProblemDetails, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


def _problem_response(status: str) -> dict[str, Any]:
    return {
        "description": HTTPStatus(int(status)).phrase,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": dict(_REF)}},
    }


def _statuses_every_route_may_return(path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["500", "503"]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append("422")
    if operation.get("requestBody"):
        statuses.append("413")
    if "{" in path:
        statuses.append("404")
    return statuses


def _rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components[_SCHEMA_NAME] = problem_schema
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in _statuses_every_route_may_return(path, operation):
                responses.setdefault(status, {})
            for status in list(responses):
                if status.isdigit() and int(status) >= 400:
                    responses[status] = _problem_response(status)
    _drop_if_unreferenced(schema, "HTTPValidationError")
    if _is_fastapi_validation_error(components.get("ValidationError")):
        _drop_if_unreferenced(schema, "ValidationError")
    return schema


def _drop_if_unreferenced(schema: dict[str, Any], name: str) -> None:
    """Webhooks keep FastAPI's own 422, so its schemas may still be needed."""
    if f'"#/components/schemas/{name}"' not in json.dumps(schema):
        schema["components"]["schemas"].pop(name, None)


def _is_fastapi_validation_error(component: Any) -> bool:
    """FastAPI's own item schema (``loc``/``msg``/``type``), not an application model."""
    properties = component.get("properties", {}) if isinstance(component, dict) else {}
    return {"loc", "msg", "type"} <= set(properties)


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare problem+json for every error response.

    Wraps whatever ``app.openapi`` is at the time (FastAPI's own or an
    override), so the app's metadata, servers, tags and webhooks stay as that
    builds them. The result is cached in ``app.openapi_schema``, as FastAPI
    does: set it to ``None`` to rebuild.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _rewrite(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
