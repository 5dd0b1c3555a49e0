"""Function-level authorization: every operation for every kind of caller, as the service promises.

The table below is the access policy of the reference service, written out:
``anyone``, a signed-in caller holding a permission, or a signed-in *user*
(API keys are refused where a person must act: managing keys and the account,
resolving). The test asserts that the table covers exactly the operations the
OpenAPI document lists, so a new route cannot ship without a row here.

Only the guard's verdict is checked: a caller the guard admits may still get a
404 (another user's object), a 409 or a 422 (an empty body); a refused caller
gets exactly 401 ``AUTHENTICATION_REQUIRED`` or 403 ``FORBIDDEN``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from markets.domain.users import Role
from markets.repositories.unit_of_work import MarketsUnitOfWork

from ..conftest import Accounts

ANYONE = "anyone"
READ, WRITE, DELETE, ADMIN = "read", "write", "delete", "admin"
USER = "a signed-in user"  # a person, not an API key
MODERATOR = "a moderator"

POLICY: dict[tuple[str, str], str] = {
    ("GET", "/health/live"): ANYONE,
    ("GET", "/health/ready"): ANYONE,
    ("GET", "/problems"): ANYONE,
    ("GET", "/problems/{slug}"): ANYONE,
    ("GET", "/api/v1"): ANYONE,
    ("POST", "/api/v1/auth/register"): ANYONE,
    ("POST", "/api/v1/auth/token"): ANYONE,
    ("POST", "/api/v1/auth/refresh"): ANYONE,
    ("POST", "/api/v1/auth/logout"): ANYONE,
    ("GET", "/api/v1/me"): READ,
    ("PATCH", "/api/v1/me"): USER,
    ("POST", "/api/v1/me/api-keys"): USER,
    ("GET", "/api/v1/me/api-keys"): USER,
    ("DELETE", "/api/v1/me/api-keys/{key_id}"): USER,
    ("GET", "/api/v1/me/positions"): READ,
    ("GET", "/api/v1/me/notifications"): READ,
    ("GET", "/api/v1/markets"): ANYONE,
    ("POST", "/api/v1/markets"): WRITE,
    ("GET", "/api/v1/markets/{market_id}"): ANYONE,
    ("PUT", "/api/v1/markets/{market_id}"): WRITE,
    ("PATCH", "/api/v1/markets/{market_id}"): WRITE,
    ("DELETE", "/api/v1/markets/{market_id}"): DELETE,
    ("POST", "/api/v1/markets/{market_id}/resolve"): MODERATOR,
    ("GET", "/api/v1/markets/{market_id}/positions"): READ,
    ("POST", "/api/v1/markets/{market_id}/positions"): WRITE,
    ("GET", "/api/v1/markets/{market_id}/positions/{position_id}"): READ,
    ("POST", "/api/v1/markets/import"): WRITE,
    ("GET", "/api/v1/jobs/{job_id}"): READ,  # and the job's owner: anyone else gets a 404
    ("GET", "/api/v1/admin/users"): ADMIN,
    ("PATCH", "/api/v1/admin/users/{user_id}"): ADMIN,
    ("GET", "/api/v1/admin/dead-letters"): ADMIN,
    ("POST", "/api/v1/admin/dead-letters/{job_id}/requeue"): ADMIN,
    ("DELETE", "/api/v1/admin/dead-letters/{job_id}"): ADMIN,
}

CALLERS = ("anonymous", "user", "moderator", "admin", "read-key", "write-key", "moderator-key")
GRANTS = {
    "user": {READ, WRITE, USER},
    "moderator": {READ, WRITE, DELETE, USER, MODERATOR},
    "admin": {READ, WRITE, DELETE, ADMIN, USER, MODERATOR},
    "read-key": {READ},
    "write-key": {READ, WRITE},
    "moderator-key": {READ, WRITE, DELETE},  # a moderator's key: permissions, never the role
}


def expected(caller: str, requirement: str) -> int | None:
    """``None`` when the guard admits the caller, else the status it must answer."""
    if requirement == ANYONE:
        return None
    if caller == "anonymous":
        return 401
    return None if requirement in GRANTS[caller] else 403


async def test_the_policy_covers_every_documented_operation(api: httpx.AsyncClient) -> None:
    paths = (await api.get("/openapi.json")).json()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert documented == set(POLICY)


@pytest.fixture
async def callers(
    accounts: Accounts, new_uow: Callable[[], MarketsUnitOfWork]
) -> dict[str, dict[str, str]]:
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in (Role.USER, Role.MODERATOR, Role.ADMIN):
        headers[role.value] = await accounts.signed_in(f"{role.value}@example.com", role)
    for name, owner, scopes in (
        ("read-key", "user", ["read"]),
        ("write-key", "user", ["read", "write"]),
        ("moderator-key", "moderator", ["read", "write", "delete"]),
    ):
        key = await accounts.api_key(headers[owner], scopes)
        headers[name] = {"X-API-Key": key}
    return headers


@pytest.fixture
async def targets(api: httpx.AsyncClient, callers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Ids to put in paths: an active market with a position, a user, a key."""
    admin = callers["admin"]
    created = await api.post(
        "/api/v1/markets", json={"name": "matrix", "status": "active"}, headers=admin
    )
    assert created.status_code == 201, created.text
    market_id = created.json()["data"]["id"]
    bought = await api.post(
        f"/api/v1/markets/{market_id}/positions",
        json={"side": "yes", "amount": "1"},
        headers={**admin, "Idempotency-Key": '"matrix-purchase"'},
    )
    assert bought.status_code == 201, bought.text
    me = (await api.get("/api/v1/me", headers=callers["user"])).json()["data"]
    return {
        "market_id": market_id,
        "position_id": bought.json()["data"]["id"],
        "user_id": me["id"],
        "key_id": str(uuid.uuid4()),
        "job_id": str(uuid.uuid4()),
        "slug": "not-found",
    }


async def test_every_caller_gets_exactly_what_the_policy_grants(
    api: httpx.AsyncClient, callers: dict[str, dict[str, str]], targets: dict[str, str]
) -> None:
    mismatches: list[str] = []
    for (method, template), requirement in POLICY.items():
        path = template.format(**targets)
        for caller in CALLERS:
            kwargs: dict[str, Any] = {"headers": callers[caller]}
            if method in ("POST", "PUT", "PATCH") and not template.endswith("/token"):
                kwargs["json"] = {}
            response = await api.request(method, path, **kwargs)
            want = expected(caller, requirement)
            code = response.json().get("code") if _is_problem(response) else None
            refused = code in ("AUTHENTICATION_REQUIRED", "FORBIDDEN")
            if want is None and refused:
                mismatches.append(f"{caller} refused {response.status_code} on {method} {template}")
            elif want is not None and (response.status_code, refused) != (want, True):
                mismatches.append(
                    f"{caller} got {response.status_code} {code} on {method} {template}, "
                    f"wanted {want}"
                )
    assert mismatches == []


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/problem+json")
