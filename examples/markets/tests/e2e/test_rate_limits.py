"""Rate limits over HTTP: the stricter ``auth`` policy, and per-caller allowances."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from markets.config import Settings
from markets.main import create_app
from markets.migrate import upgrade
from tiered.clock import FrozenClock
from tiered.security import PasswordHasher, TokenIssuer, TokenKey, TokenKeys
from tiered.settings import Environment
from tiered.testing import app_client

PASSWORD = "tram line to the harbour"
AUTH = 3
"""Requests the ``auth`` policy admits per client in these tests."""

Client = Callable[..., Any]


@pytest.fixture
async def migrated(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'markets.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
def limited(
    migrated: str, clock: FrozenClock, password_hasher: PasswordHasher
) -> Callable[..., Any]:
    """A client of the app with rate limiting on and the given quotas."""

    def build(default: str = "100/hour", auth: str = f"{AUTH}/hour") -> Any:
        settings = Settings(
            environment="test",
            database_url=migrated,
            log_level="WARNING",
            rate_limit_enabled=True,
            rate_limit_default=default,
            rate_limit_auth=auth,
        )
        return app_client(create_app(settings, clock=clock, password_hasher=password_hasher))

    return build


def registration(name: str) -> dict[str, str]:
    return {"email": f"{name}@example.com", "password": PASSWORD, "display_name": name.title()}


def sign_in_form(name: str, password: str = PASSWORD) -> dict[str, str]:
    return {"username": f"{name}@example.com", "password": password}


def assert_refused(response: httpx.Response, policy: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 0 < int(response.headers["retry-after"]) <= 3600
    assert response.headers["ratelimit"].startswith(f'"{policy}";r=0;t=')
    body = response.json()
    assert (body["status"], body["code"]) == (429, "RATE_LIMITED")
    assert body["violated-policies"] == [policy]


def sample(metrics: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return float(item.value)
    return 0.0


async def test_sign_up_admits_n_then_refuses(limited: Client) -> None:
    async with limited() as api:
        admitted = [
            await api.post("/api/v1/auth/register", json=registration(f"user{number}"))
            for number in range(AUTH)
        ]
        refused = await api.post("/api/v1/auth/register", json=registration("one-too-many"))
        listed = await api.get("/api/v1/markets")
        metrics = (await api.get("/metrics")).text
    for response in admitted:
        assert response.status_code == 201, response.text
        policies = response.headers["ratelimit-policy"]
        assert policies == f'"default";q=100;w=3600, "auth";q={AUTH};w=3600'
    assert admitted[-1].headers["ratelimit"].startswith('"auth";r=0;t=')
    assert_refused(refused, "auth")
    assert listed.status_code == 200  # other routes spend the default allowance only
    assert listed.headers["ratelimit-policy"] == '"default";q=100;w=3600'
    assert sample(metrics, "rate_limit_decisions_total", outcome="allowed") == AUTH + 1
    assert sample(metrics, "rate_limit_decisions_total", outcome="limited") == 1


async def test_sign_in_and_refresh_share_the_auth_allowance(limited: Client) -> None:
    async with limited(auth="4/hour") as api:
        assert (
            await api.post("/api/v1/auth/register", json=registration("ann"))
        ).status_code == 201
        wrong = await api.post("/api/v1/auth/token", data=sign_in_form("ann", "not her password"))
        assert wrong.status_code == 401  # a failed guess is spent like any other
        right = await api.post("/api/v1/auth/token", data=sign_in_form("ann"))
        assert right.status_code == 200
        refresh = {"refresh_token": right.json()["refresh_token"]}
        assert (await api.post("/api/v1/auth/refresh", json=refresh)).status_code == 200
        assert_refused(await api.post("/api/v1/auth/token", data=sign_in_form("ann")), "auth")
        assert_refused(await api.post("/api/v1/auth/refresh", json=refresh), "auth")


async def _token(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    assert (await api.post("/api/v1/auth/register", json=registration(name))).status_code == 201
    tokens = await api.post("/api/v1/auth/token", data=sign_in_form(name))
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


async def test_signed_in_callers_spend_their_own_allowance(
    limited: Client, clock: FrozenClock
) -> None:
    async with limited(default="6/hour", auth="10/hour") as api:
        alice = await _token(api, "alice")  # four anonymous requests: two each
        bob = await _token(api, "bob")
        for _ in range(2):
            assert (await api.get("/api/v1/markets")).status_code == 200
        assert_refused(await api.get("/api/v1/markets"), "default")  # the address is spent

        for _ in range(6):
            assert (await api.get("/api/v1/me", headers=alice)).status_code == 200
        assert_refused(await api.get("/api/v1/me", headers=alice), "default")
        assert (await api.get("/api/v1/me", headers=bob)).status_code == 200

        me = (await api.get("/api/v1/me", headers=bob)).json()["data"]
        forged = TokenIssuer(
            TokenKeys(
                TokenKey.hs256(
                    "a-key-the-service-never-issued-with-0123456789",
                    kid="markets-1",
                    environment=Environment.TEST,
                )
            ),
            issuer="markets",
            audience="markets-api",
            clock=clock,
            ttl=timedelta(minutes=5),
        ).issue(me["id"])
        as_bob_forged = {"Authorization": f"Bearer {forged}"}
        assert_refused(await api.get("/api/v1/me", headers=as_bob_forged), "default")


async def test_profile_edits_spend_the_auth_allowance(limited: Client) -> None:
    async with limited(auth=f"{AUTH}/hour") as api:
        carol = await _token(api, "carol")  # the address spends two; carol's own allowance is whole
        for number in range(AUTH):
            edited = await api.patch(
                "/api/v1/me", json={"display_name": f"C{number}"}, headers=carol
            )
            assert edited.status_code == 200, edited.text
        refused = await api.patch("/api/v1/me", json={"display_name": "C"}, headers=carol)
        assert_refused(refused, "auth")
        assert (await api.get("/api/v1/me", headers=carol)).status_code == 200
