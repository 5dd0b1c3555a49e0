"""Who is calling: credentials read from the request, resolved to a principal and an actor.

A request may carry an access token (``Authorization: Bearer <jwt>``) or an
API key (``X-API-Key: tk_…`` or ``Authorization: Bearer tk_…``); none makes
it anonymous, two different ones a 400, a refused one a 401 problem with
``WWW-Authenticate``. The security schemes are FastAPI's own classes with
``auto_error=False``, so the OpenAPI document declares them and the docs'
"Authorize" button works, while the refusals stay this module's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.requests import Request

from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.access import Authenticator, Caller
from markets.services.auth import SessionLifetimes
from tiered.app import app_state
from tiered.clock import Clock
from tiered.errors import (
    PROBLEM_MEDIA_TYPE,
    ConfigurationError,
    FieldError,
    InvalidInputError,
    problem_responses,
)
from tiered.observability import record_principal
from tiered.security import (
    API_KEY_HEADER,
    InvalidApiKeyError,
    InvalidTokenError,
    PasswordHasher,
    TokenIssuer,
    TokenVerifier,
    api_key_from_headers,
)

__all__ = [
    "TOKEN_URL",
    "Caller",
    "SecurityKit",
    "authenticate",
    "document_authentication",
    "security_kit",
]

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 (a path, not a secret)

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    scheme_name="AccessToken",
    description="An access token from `POST /api/v1/auth/token` (email as the username).",
    auto_error=False,
)
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="An API key (`tk_…`) from `POST /api/v1/me/api-keys`.",
    auto_error=False,
)


@dataclass(slots=True)
class SecurityKit:
    """The app's token issuer and verifier, clock, session lifetimes and password hasher.

    Built once per app; the hasher (and its thread pool) lives as long as the
    lifespan, which sets it on start and closes it on stop.
    """

    clock: Clock
    issuer: TokenIssuer
    verifier: TokenVerifier
    lifetimes: SessionLifetimes
    hasher: PasswordHasher | None = None

    @property
    def password_hasher(self) -> PasswordHasher:
        if self.hasher is None:
            raise ConfigurationError("The password hasher starts with the application lifespan.")
        return self.hasher


SECURITY_KIT = "markets.security"
"""The key of the app's :class:`SecurityKit` in ``app_state(request).extras``."""


def security_kit(request: Request) -> SecurityKit:
    kit = app_state(request).extras.get(SECURITY_KIT)
    if not isinstance(kit, SecurityKit):
        raise ConfigurationError("The application lifespan has not started.")
    return kit


def _ambiguous() -> InvalidInputError:
    return InvalidInputError(
        "Send one credential: one Authorization header or one API key.",
        code="AMBIGUOUS_CREDENTIALS",
        errors=[FieldError("/authorization", "conflicts with another credential", "header")],
    )


async def authenticate(request: Request) -> Caller | None:
    """The caller, or ``None`` for a request without credentials.

    The bearer token is read by the scheme itself, called directly rather than
    as a sub-dependency: FastAPI resolves every level of a dependency tree on
    every request, about 8 µs each, and the schemes' only other role, their
    place in the OpenAPI document, is given by :func:`document_authentication`.
    API keys are read with the library's
    :func:`~tiered.security.api_key_from_headers`, which also refuses a
    request that presents two different credentials.
    """
    bearer = await bearer_scheme(request)
    presented_key = api_key_from_headers(request.headers)
    if presented_key is None and bearer is None:
        return None
    if len(request.headers.getlist("authorization")) > 1:
        raise _ambiguous()
    kit = security_kit(request)
    authenticator = Authenticator(
        MarketsUnitOfWork(app_state(request).database.sessionmaker), kit.verifier, kit.clock
    )
    if presented_key is not None:
        caller = await authenticator.api_key(presented_key)
    else:
        caller = await authenticator.access_token(bearer or "")
    record_principal(caller.principal.log_id)
    return caller


_REFUSALS = (
    InvalidTokenError("The access token is invalid.", code="TOKEN_INVALID"),
    InvalidTokenError("The access token has expired.", code="TOKEN_EXPIRED"),
    InvalidTokenError("The access token has been revoked.", code="TOKEN_REVOKED"),
    InvalidApiKeyError("The API key is invalid."),
)


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every ``APIRoute``, those of included routers too (FastAPI includes them lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        included = getattr(route, "original_router", None)
        children = getattr(included if included is not None else route, "routes", None)
        if isinstance(children, Sequence):
            yield from _api_routes(children)


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_depends_on(sub, call) for sub in dependant.dependencies)


_PROBLEM_SCHEMA = {"$ref": "#/components/schemas/ProblemDetails"}
_SAMPLE_UUID = "0b6f3c1e-5d2a-4f8e-9c7b-1a2d3e4f5a6b"


def _sample(parameter: dict[str, Any] | None) -> str:
    schema = (parameter or {}).get("schema", {})
    examples = schema.get("examples") or []
    if examples:
        return str(examples[0])
    return _SAMPLE_UUID if schema.get("format") == "uuid" else "example"


def _instance(path: str, operation: dict[str, Any]) -> str:
    """``path`` with a sample in each parameter, as the examples' ``instance``."""
    parameters = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "path"}
    return re.sub(r"\{([^}]+)\}", lambda match: _sample(parameters.get(match[1])), path)


def _add_problems(
    path: str,
    operation: dict[str, Any],
    problems: dict[int | str, dict[str, Any]],
    *,
    only_new: bool,
) -> None:
    """Add ``problems`` to an operation's documented responses, examples keyed by code.

    With ``only_new``, a status the route already documents keeps exactly its
    own examples.
    """
    responses: dict[str, Any] = operation.setdefault("responses", {})
    instance = _instance(path, operation)
    for status, entry in problems.items():
        examples = {
            name: {**example, "value": {**example["value"], "instance": instance}}
            for name, example in entry["content"][PROBLEM_MEDIA_TYPE]["examples"].items()
        }
        declared = responses.get(str(status))
        if declared is None:
            declared = responses[str(status)] = {
                "description": entry["description"],
                "content": {PROBLEM_MEDIA_TYPE: {"schema": dict(_PROBLEM_SCHEMA), "examples": {}}},
            }
        elif only_new:
            continue
        media = declared.setdefault("content", {}).setdefault(PROBLEM_MEDIA_TYPE, {})
        media.setdefault("schema", dict(_PROBLEM_SCHEMA))
        for name, example in examples.items():
            media.setdefault("examples", {}).setdefault(name, example)
        if entry.get("headers"):
            declared.setdefault("headers", {}).update(entry["headers"])


def document_authentication(app: FastAPI, *, required: Callable[..., Any]) -> None:
    """Declare, in the OpenAPI document, what authentication adds to routes reading credentials.

    Each such route lists both security schemes (``authenticate`` reads them
    without depending on them, so FastAPI does not list them itself).
    Each such route may refuse a token or a key (401) or two credentials at
    once (400). A route whose dependencies do not include ``required`` (the
    guard that turns an anonymous caller away) also serves anonymous callers:
    its security requirements gain ``{}``, so clients and fuzzers know the
    credentials are optional.
    """
    schemes = {
        scheme.scheme_name: scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        for scheme in (bearer_scheme, api_key_scheme)
    }
    refusals = problem_responses(*_REFUSALS)
    ambiguous = problem_responses(_ambiguous())
    reading: dict[tuple[str, str], bool] = {}
    for route in _api_routes(app.routes):
        if _depends_on(route.dependant, authenticate):
            optional = not _depends_on(route.dependant, required)
            for method in route.methods or ():
                reading[route.path_format, method.lower()] = optional
    build = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        if documented and documented[0] is schema:
            return schema
        components = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        components.update(schemes)
        for (path, method), optional in reading.items():
            operation = schema.get("paths", {}).get(path, {}).get(method)
            if operation is None:
                continue
            _add_problems(path, operation, refusals, only_new=False)
            _add_problems(path, operation, ambiguous, only_new=True)
            security = operation.setdefault("security", [])
            security.extend({name: []} for name in schemes if {name: []} not in security)
            if optional and {} not in security:
                security.append({})
        documented[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
