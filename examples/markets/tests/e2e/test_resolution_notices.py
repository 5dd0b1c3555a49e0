"""Resolving a market tells each holder once, in the app and by email, and says how it went.

The app's worker does not run in the background: ``run_jobs`` runs what is
due, and the frozen clock makes retries due. The mail backend records what
it sends, or fails on demand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from markets.config import Settings
from markets.domain.users import Role
from markets.main import create_app
from markets.services.tasks import ANNOUNCE_RESOLUTION, ResolutionAnnouncement
from tiered.clock import FrozenClock
from tiered.security import PasswordHasher

from ..conftest import Accounts, jobs_of
from ..mailers import SwitchableMailer

RunJobs = Callable[[], Awaitable[int]]
MARKETS = "/api/v1/markets"


@pytest.fixture
def mailer() -> SwitchableMailer:
    return SwitchableMailer()


@pytest.fixture
def markets_app(
    markets_settings: Settings,
    clock: FrozenClock,
    password_hasher: PasswordHasher,
    mailer: SwitchableMailer,
) -> FastAPI:
    return create_app(markets_settings, clock=clock, password_hasher=password_hasher, mailer=mailer)


async def buy(api: httpx.AsyncClient, market_id: str, headers: dict[str, str], key: str) -> None:
    bought = await api.post(
        f"{MARKETS}/{market_id}/positions",
        json={"side": "yes", "amount": "2"},
        headers={**headers, "Idempotency-Key": key},
    )
    assert bought.status_code == 201, bought.text


async def notifications(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get("/api/v1/me/notifications", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def signed_in(accounts: Accounts, run_jobs: RunJobs) -> dict[str, dict[str, str]]:
    """alice, bob and cy (users), mona (moderator); their welcome emails already sent."""
    headers = {
        name: await accounts.signed_in(f"{name}@example.com", role)
        for name, role in (
            ("alice", Role.USER),
            ("bob", Role.USER),
            ("cy", Role.USER),
            ("mona", Role.MODERATOR),
        )
    }
    assert await run_jobs() == 4
    return headers


@pytest.fixture
async def resolved(
    api: httpx.AsyncClient, signed_in: dict[str, dict[str, str]], mailer: SwitchableMailer
) -> str:
    """A market alice created, held by bob (twice), cy and alice, that mona resolved YES."""
    created = await api.post(
        MARKETS, json={"name": "Rain on Sunday?", "status": "active"}, headers=signed_in["alice"]
    )
    market_id: str = created.json()["data"]["id"]
    for number, holder in enumerate(["bob", "cy", "bob", "alice"]):
        await buy(api, market_id, signed_in[holder], f"buy-{number}")
    mailer.sent.clear()
    done = await api.post(
        f"{MARKETS}/{market_id}/resolve", json={"outcome": "yes"}, headers=signed_in["mona"]
    )
    assert done.status_code == 200, done.text
    return market_id


async def test_every_holder_is_told_once_even_when_resolving_twice(
    *,
    api: httpx.AsyncClient,
    signed_in: dict[str, dict[str, str]],
    resolved: str,
    run_jobs: RunJobs,
    mailer: SwitchableMailer,
    markets_app: FastAPI,
) -> None:
    again = await api.post(
        f"{MARKETS}/{resolved}/resolve", json={"outcome": "no"}, headers=signed_in["mona"]
    )
    assert again.status_code == 409, again.text
    assert await run_jobs() == 1 + 3, "the announcement, then one notice per holder"

    rerun = jobs_of(markets_app).registry.get(ANNOUNCE_RESOLUTION.name)
    report = await rerun.handler(None, ResolutionAnnouncement(market_id=resolved))  # type: ignore[arg-type]
    assert (report.holders, report.notices_enqueued) == (3, 0), "a re-run enqueues nobody twice"
    assert await run_jobs() == 0

    assert sorted(mailer.recipients()) == [
        "Alice <alice@example.com>",
        "Bob <bob@example.com>",
        "Cy <cy@example.com>",
    ]
    for holder in ("alice", "bob", "cy"):
        page = await notifications(api, signed_in[holder])
        assert page["meta"]["total"] == 1
        [notice] = page["data"]
        assert (notice["kind"], notice["market_id"]) == ("market_resolved", resolved)
        assert notice["title"] == "Resolved YES: Rain on Sunday?"
        assert notice["deliveries"] == [
            {"channel": "in_app", "status": "delivered", "detail": None},
            {"channel": "email", "status": "delivered", "detail": None},
        ]
    assert (await notifications(api, signed_in["mona"]))["data"] == []


async def test_a_failed_email_shows_on_the_notification_until_a_retry_sends_it(
    *,
    api: httpx.AsyncClient,
    accounts: Accounts,
    signed_in: dict[str, dict[str, str]],
    resolved: str,
    run_jobs: RunJobs,
    mailer: SwitchableMailer,
    clock: FrozenClock,
) -> None:
    del resolved
    mailer.failure = ConnectionRefusedError(111, "mail.internal:25 refused the connection")
    assert await run_jobs() == 1 + 3
    [notice] = (await notifications(api, signed_in["bob"]))["data"]
    assert notice["deliveries"] == [
        {"channel": "in_app", "status": "delivered", "detail": None},
        {
            "channel": "email",
            "status": "failed",
            "detail": "the mail server could not be reached; another attempt is scheduled",
        },
    ]

    mailer.failure = None
    clock.advance(3600)  # past the notices' backoff
    assert await run_jobs() == 3
    bob = await accounts.log_in("bob@example.com")  # the old token expired meanwhile
    page = await notifications(api, {"Authorization": f"Bearer {bob['access_token']}"})
    [notice] = page["data"]
    assert notice["deliveries"][1] == {"channel": "email", "status": "delivered", "detail": None}
    assert len(mailer.sent) == 3


async def test_notifications_are_paged_filtered_and_private(
    api: httpx.AsyncClient, signed_in: dict[str, dict[str, str]], resolved: str, run_jobs: RunJobs
) -> None:
    del resolved
    await run_jobs()
    bob = signed_in["bob"]
    filtered = await api.get(
        "/api/v1/me/notifications", params={"kind": "market_resolved", "limit": 1}, headers=bob
    )
    assert filtered.json()["meta"] == {"total": 1, "limit": 1, "offset": 0, "next_cursor": None}
    unknown = await api.get("/api/v1/me/notifications", params={"user_id": "x"}, headers=bob)
    assert unknown.status_code == 400, unknown.text
    anonymous = await api.get("/api/v1/me/notifications")
    assert anonymous.status_code == 401
