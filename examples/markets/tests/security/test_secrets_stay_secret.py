"""Nothing leaks (OWASP API3): no response carries a password, a hash, a key digest, or a
refresh token other than the one it issues; a refresh token works once, even under a race."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from examples.markets.tests.conftest import PASSWORD, Accounts
from sqlalchemy import select

from markets.domain.users import Role
from markets.repositories.tables import refresh_tokens
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.security import refresh_token_digest

NewUow = Callable[[], MarketsUnitOfWork]
ISSUING = frozenset({"/api/v1/auth/token", "/api/v1/auth/refresh"})


def _issued(path: str, status: int, body: dict[str, Any]) -> list[str]:
    """The secrets a response hands out: tokens from sign-in and refresh, a new API key."""
    if path in ISSUING and status == 200:
        return [body["access_token"], body["refresh_token"]]
    if path == "/api/v1/me/api-keys" and status == 201:
        return [body["data"]["key"]]
    return []


async def test_no_response_carries_a_secret_it_did_not_issue(
    api: httpx.AsyncClient, accounts: Accounts, new_uow: NewUow
) -> None:
    seen: list[tuple[str, int, str]] = []

    async def record(response: httpx.Response) -> None:
        await response.aread()
        seen.append((response.request.url.path, response.status_code, response.text))

    api.event_hooks["response"].append(record)
    admin = await accounts.signed_in("root@example.com", role=Role.ADMIN)
    user = await accounts.signed_in("uma@example.com")
    key = await accounts.api_key(user, ["read"])
    tokens = await accounts.log_in("uma@example.com")
    spent = {"refresh_token": tokens["refresh_token"]}
    renewed = await api.post("/api/v1/auth/refresh", json=spent)
    await api.post("/api/v1/auth/refresh", json=spent)
    await api.post("/api/v1/auth/logout", json={"refresh_token": renewed.json()["refresh_token"]})
    await api.get("/api/v1/me", headers={"X-API-Key": key})
    await api.get("/api/v1/me/api-keys", headers=user)
    await api.get("/api/v1/admin/users", headers=admin)
    await api.patch("/api/v1/me", json={"email": "x@example.com"}, headers=user)
    await api.patch("/api/v1/me", json={"password": "short"}, headers=user)
    await api.post(
        "/api/v1/auth/register",
        json={"email": "uma@example.com", "password": PASSWORD, "display_name": "U"},
    )
    await api.post("/api/v1/auth/token", data={"username": "uma@example.com", "password": "wrong"})

    async with new_uow().read_only() as uow:
        hashes = [stored.password_hash or "" for stored in await uow.users.get_all()]
        key_digests = [stored.digest for stored in await uow.api_keys.get_all()]
        token_digests = set((await uow.session.execute(select(refresh_tokens.c.digest))).scalars())
    never = [*hashes, *key_digests, *token_digests, PASSWORD]
    assert all(never)
    assert len(key_digests) == 1
    assert len(token_digests) == 4

    issued = [
        secret
        for path, status, text in seen
        for secret in _issued(path, status, json.loads(text) if text else {})
    ]
    assert len(issued) == 1 + 2 * 4  # the key, and a token pair per sign-in or refresh
    for path, _status, text in seen:
        assert not [secret for secret in never if secret in text], path
    for secret in issued:
        assert sum(secret in text for _, _, text in seen) == 1, "shown once, where issued"
    refresh_tokens_issued = {
        json.loads(text)["refresh_token"]
        for path, status, text in seen
        if path in ISSUING and status == 200
    }
    assert {refresh_token_digest(token) for token in refresh_tokens_issued} == token_digests


async def test_a_refresh_token_raced_twice_is_spent_once_and_ends_the_sign_in(
    api: httpx.AsyncClient, accounts: Accounts
) -> None:
    await accounts.register("vic@example.com")
    tokens = await accounts.log_in("vic@example.com")
    body = {"refresh_token": tokens["refresh_token"]}
    first, second = await asyncio.gather(
        api.post("/api/v1/auth/refresh", json=body), api.post("/api/v1/auth/refresh", json=body)
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 401], (first.text, second.text)
    loser = first if first.status_code == 401 else second
    winner = second if loser is first else first
    assert loser.json()["code"] in {"REFRESH_TOKEN_REUSED", "REFRESH_TOKEN_REVOKED"}
    successor = winner.json()["refresh_token"]
    after = await api.post("/api/v1/auth/refresh", json={"refresh_token": successor})
    assert (after.status_code, after.json()["code"]) == (401, "REFRESH_TOKEN_REVOKED")
