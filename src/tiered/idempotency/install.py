"""Wire idempotency into an application: the middleware, the replays, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response

from tiered.idempotency.dependency import INSTALLED, IdempotentReplay, declared_idempotency
from tiered.idempotency.keys import IDEMPOTENCY_KEY_HEADER, KEY_PATTERN
from tiered.idempotency.middleware import IdempotencyMiddleware
from tiered.idempotency.records import REPLAYED_HEADER

__all__ = ["document_idempotency", "install_idempotency"]

_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_REPLAYED_DOC = {
    "description": "`true` when this response replays the one first sent for the same "
    "`Idempotency-Key`; absent otherwise.",
    "schema": {"type": "string", "enum": ["true"]},
}
_EXAMPLE_KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"'


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return exc.response.replay()


def _declarations(app: FastAPI) -> dict[tuple[str, str], bool]:
    """Whether each (method, path template) operation requires its key, for those declaring one."""
    found: dict[tuple[str, str], bool] = {}
    for context in iter_route_contexts(list(app.routes)):
        dependant = getattr(context, "dependant", None)
        template = getattr(context, "path_format", None)
        if dependant is None or not isinstance(template, str):
            continue
        required = declared_idempotency(dependant)
        if required is None:
            continue
        for method in context.methods or ():
            found[(method.lower(), template)] = required
    return found


def _document_operation(operation: dict[str, Any], required: bool) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_KEY_HEADER:
            parameter["required"] = required
            parameter["schema"] = {"type": "string", "pattern": KEY_PATTERN}
            parameter["example"] = _EXAMPLE_KEY
    for status, response in operation.get("responses", {}).items():
        if str(status)[:1] in {"2", "3"}:
            response.setdefault("headers", {}).setdefault(REPLAYED_HEADER, dict(_REPLAYED_DOC))


def document_idempotency(app: FastAPI) -> None:
    """Make ``app.openapi()`` say which operations require their ``Idempotency-Key``.

    The header parameter is marked required where the route requires it (the
    route itself answers a missing key with a 400, not FastAPI's 422), its
    schema gets the key's syntax, and success responses declare
    ``Idempotent-Replayed``. Call it after :func:`tiered.errors.document_problems`
    (``create_app`` calls that itself), so the generated 422 examples are not
    about the key.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        declarations = _declarations(app)
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                required = declarations.get((method, path))
                if method in _METHODS and required is not None:
                    _document_operation(operation, required)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_idempotency(app: FastAPI) -> None:
    """The middleware (outside every layer added so far), the replay handler and the docs.

    Call it once, after the routes are included: on an app built by
    ``create_app``, right after ``create_app`` returns.
    """
    setattr(app.state, INSTALLED, True)
    app.add_exception_handler(IdempotentReplay, _replay)
    app.add_middleware(IdempotencyMiddleware)
    document_idempotency(app)
