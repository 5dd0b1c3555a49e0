"""``/api/v1/auth``: Sign-up, tokens and sign-out."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from markets.api.authentication import security_kit
from markets.api.dependencies import UnitOfWorkDep
from markets.api.schemas.auth import (
    PasswordGrant,
    RefreshTokenBody,
    Registration,
    TokenPair,
)
from markets.domain.errors import EmailTakenError, InvalidCredentialsError, WeakPasswordError
from markets.domain.users import MIN_PASSWORD_CHARS
from markets.services.accounts import UserView
from markets.services.auth import AuthService, IssuedTokens
from tiered.envelope import ApiResponse, json_response
from tiered.errors import InvalidInputError, problem_responses
from tiered.ratelimit import RateLimitDependency
from tiered.security import MAX_PASSWORD_BYTES, InvalidRefreshTokenError, PasswordHasherBusyError

__all__ = ["PASSWORD_TOO_LONG", "auth_rate_limit", "router"]

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_FORM = "application/x-www-form-urlencoded"
_TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PASSWORD_TOO_LONG = InvalidInputError(
    f"A password may be at most {MAX_PASSWORD_BYTES} bytes long (UTF-8).",
    code="PASSWORD_TOO_LONG",
)
"""What the hasher answers for a password over its byte bound, before any hashing."""
_BUSY = PasswordHasherBusyError(
    "Too many passwords are being checked right now; try again shortly.", retry_after=1
)


auth_rate_limit = RateLimitDependency(["auth"])
"""The stricter ``auth`` policy (``rate_limit_auth``), on top of the default one: sign-up,
sign-in, refresh, and ``PATCH /me`` (an email or password change checks the current
password). Every route that lets a client guess at credentials spends the one allowance."""


async def auth_service(request: Request, uow: UnitOfWorkDep) -> AuthService:
    kit = security_kit(request)
    return AuthService(uow, kit.password_hasher, kit.issuer, kit.clock, kit.lifetimes)


AuthServiceDep = Annotated[AuthService, Depends(auth_service)]
_LIMITED = [Depends(auth_rate_limit)]


def _refused(message: str, location: tuple[str, ...] = ("body",)) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": location, "msg": message}])


async def password_grant(request: Request) -> PasswordGrant:
    """The OAuth2 password form, parsed without a multipart library: it is one short line of
    ``application/x-www-form-urlencoded``, and a parameter given twice is refused."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM:
        raise _refused(f"Send the form as {_FORM}.")
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise _refused("The form is not UTF-8 URL-encoded text.") from None
    form: dict[str, Any] = {}
    for name, value in pairs:
        if name in form:
            raise _refused(f"{name} is given more than once.", ("body", name))
        form[name] = value
    try:
        return PasswordGrant.model_validate(form)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        ) from None


def _token_response(tokens: IssuedTokens) -> Response:
    return json_response(TokenPair.of(tokens), headers=dict(_TOKEN_HEADERS))


_TOKEN_RESPONSE_HEADERS = {
    "Cache-Control": {
        "description": "`no-store`: tokens are never cached.",
        "schema": {"type": "string"},
    },
    "Pragma": {"description": "`no-cache`, for HTTP/1.0 caches.", "schema": {"type": "string"}},
}
_FORM_SCHEMA = PasswordGrant.model_json_schema()
_SIGN_IN_DESCRIPTION = """Sign in with the OAuth2 password flow: a form with your email as
`username` and your `password`. Anyone may call it (rate limited).

Returns a short-lived access token (send it as `Authorization: Bearer …`) and a
single-use refresh token. A wrong password, an unknown email and a deactivated
account all get the same 401 `INVALID_CREDENTIALS`."""


@router.post(
    "/register",
    status_code=201,
    summary="Create an account",
    description=(
        "Sign up with an email, a password and a display name; the account gets the `user` "
        "role. Anyone may call it (rate limited). The email must not be in use (compared "
        f"case-insensitively, 409); the password needs {MIN_PASSWORD_CHARS} characters or "
        "more, must differ from the email and must not be a common one (422)."
    ),
    response_model=ApiResponse[UserView],
    responses=problem_responses(
        EmailTakenError(),
        WeakPasswordError("is one of the most common passwords"),
        PASSWORD_TOO_LONG,
        503,
        _BUSY,
    ),
    dependencies=_LIMITED,
)
async def register(body: Registration, service: AuthServiceDep) -> Response:
    view = await service.register(body.email, body.password, body.display_name)
    return json_response(ApiResponse.of(view), status_code=201)


@router.post(
    "/token",
    summary="Sign in (OAuth2 password flow)",
    description=_SIGN_IN_DESCRIPTION,
    response_model=TokenPair,
    responses={
        200: {"headers": _TOKEN_RESPONSE_HEADERS},
        **problem_responses(InvalidCredentialsError(), PASSWORD_TOO_LONG, 503, _BUSY),
    },
    openapi_extra={"requestBody": {"required": True, "content": {_FORM: {"schema": _FORM_SCHEMA}}}},
    dependencies=_LIMITED,
)
async def issue_token(
    grant: Annotated[PasswordGrant, Depends(password_grant)], service: AuthServiceDep
) -> Response:
    return _token_response(await service.log_in(grant.username, grant.password))


_UNREADABLE_BODY = 400
"""A body that is not JSON text at all (not UTF-8, say) is refused before validation."""

_REFRESH_REFUSALS = (
    InvalidRefreshTokenError("The refresh token is invalid."),
    InvalidRefreshTokenError("The refresh token has expired.", code="REFRESH_TOKEN_EXPIRED"),
    InvalidRefreshTokenError("The refresh token has been revoked.", code="REFRESH_TOKEN_REVOKED"),
    InvalidRefreshTokenError(
        "The refresh token was already used; every session of this login has been revoked.",
        code="REFRESH_TOKEN_REUSED",
    ),
)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for new tokens",
    description=(
        "Spends the refresh token and returns a new access token and a new refresh token. "
        "Anyone holding a refresh token may call it (rate limited). A refresh token works "
        "once: presenting a spent one revokes every token of that sign-in (401 "
        "`REFRESH_TOKEN_REUSED`), so never send two refreshes at once."
    ),
    response_model=TokenPair,
    responses={
        200: {"headers": _TOKEN_RESPONSE_HEADERS},
        **problem_responses(_UNREADABLE_BODY, *_REFRESH_REFUSALS),
    },
    dependencies=_LIMITED,
)
async def refresh_tokens(body: RefreshTokenBody, service: AuthServiceDep) -> Response:
    return _token_response(await service.refresh(body.refresh_token))


@router.post(
    "/logout",
    status_code=204,
    summary="Sign out",
    description=(
        "Revokes the sign-in the refresh token belongs to: its refresh tokens stop working "
        "at once, its access token when it expires. Anyone holding a refresh token may call "
        "it; an unknown or spent token is no error (RFC 7009), the answer is always 204."
    ),
    response_class=Response,
    responses=problem_responses(_UNREADABLE_BODY),
)
async def log_out(body: RefreshTokenBody, service: AuthServiceDep) -> Response:
    await service.log_out(body.refresh_token)
    return Response(status_code=204)
