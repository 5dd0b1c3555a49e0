"""Dead letters: a job that keeps failing ends there; an administrator requeues or purges it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from markets.config import Settings
from markets.domain.users import Role
from markets.main import create_app
from markets.services.mail import MailRejectedError
from markets.services.tasks import SEND_WELCOME_EMAIL
from tiered.clock import FrozenClock
from tiered.security import PasswordHasher

from ..conftest import Accounts
from ..mailers import SwitchableMailer

RunJobs = Callable[[], Awaitable[int]]
DEAD_LETTERS = "/api/v1/admin/dead-letters"


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


@pytest.fixture
async def admin(accounts: Accounts, run_jobs: RunJobs) -> str:
    """An administrator's email; their own welcome email already sent."""
    await accounts.signed_in("root@example.com", Role.ADMIN)
    assert await run_jobs() == 1
    return "root@example.com"


async def as_admin(accounts: Accounts, email: str) -> dict[str, str]:
    """Fresh tokens: the frozen clock may have moved past the last ones."""
    tokens = await accounts.log_in(email)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def dead_letters(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(DEAD_LETTERS, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_job_that_always_fails_is_a_dead_letter_until_requeued(
    *,
    api: httpx.AsyncClient,
    accounts: Accounts,
    admin: str,
    run_jobs: RunJobs,
    mailer: SwitchableMailer,
    clock: FrozenClock,
) -> None:
    mailer.failure = ConnectionRefusedError(111, "refused")
    await accounts.signed_in("ada@example.com")
    before, tries = mailer.attempts, 0
    for _ in range(SEND_WELCOME_EMAIL.max_tries):
        tries += await run_jobs()
        clock.advance(3600)  # past the longest backoff
    assert (tries, mailer.attempts - before) == (SEND_WELCOME_EMAIL.max_tries,) * 2
    assert await run_jobs() == 0, "a dead job is not tried again"

    headers = await as_admin(accounts, admin)
    page = await dead_letters(api, headers)
    assert page["meta"] == {"total": 1, "limit": 20, "offset": 0, "next_cursor": None}
    [dead] = page["data"]
    assert (dead["kind"], dead["attempts"], dead["max_tries"], dead["owner_id"]) == (
        "send-welcome-email",
        SEND_WELCOME_EMAIL.max_tries,
        SEND_WELCOME_EMAIL.max_tries,
        None,
    )
    assert dead["error"] == "ConnectionRefusedError: [Errno 111] refused"
    assert "payload" not in dead

    ada = await as_admin(accounts, "ada@example.com")
    refused = await api.get(DEAD_LETTERS, headers=ada)
    assert (refused.status_code, refused.json()["code"]) == (403, "FORBIDDEN")
    assert (await api.get(f"/api/v1/jobs/{dead['id']}", headers=ada)).status_code == 404

    mailer.failure = None
    requeued = await api.post(f"{DEAD_LETTERS}/{dead['id']}/requeue", headers=headers)
    assert requeued.status_code == 200, requeued.text
    job = requeued.json()["data"]
    assert (job["id"], job["status"], job["attempts"], job["error"]) == (
        dead["id"],
        "queued",
        0,
        None,
    )
    assert await run_jobs() == 1
    assert mailer.recipients() == ["Root <root@example.com>", "Ada <ada@example.com>"]
    assert (await dead_letters(api, headers))["data"] == []
    again = await api.post(f"{DEAD_LETTERS}/{dead['id']}/requeue", headers=headers)
    assert (again.status_code, again.json()["code"]) == (404, "DEAD_LETTER_NOT_FOUND")


async def test_a_refused_email_is_dead_at_once_and_can_be_purged(
    *,
    api: httpx.AsyncClient,
    accounts: Accounts,
    admin: str,
    run_jobs: RunJobs,
    mailer: SwitchableMailer,
) -> None:
    mailer.failure = MailRejectedError("550 no such user")
    await accounts.register("nobody@example.com")
    assert await run_jobs() == 1, "a refusal for good is not retried"
    headers = await as_admin(accounts, admin)
    [dead] = (await dead_letters(api, headers))["data"]
    assert (dead["attempts"], dead["error"]) == (
        1,
        "PermanentJobFailure: the mail server refused the welcome email",
    )

    filtered = await api.get(DEAD_LETTERS, params={"kind": "import-markets"}, headers=headers)
    assert filtered.json()["meta"]["total"] == 0
    repeated = await api.get(DEAD_LETTERS, params=[("limit", 1), ("limit", 2)], headers=headers)
    assert (repeated.status_code, repeated.json()["code"]) == (400, "INVALID_QUERY")

    purged = await api.delete(f"{DEAD_LETTERS}/{dead['id']}", headers=headers)
    assert purged.status_code == 204
    assert (await dead_letters(api, headers))["data"] == []
    gone = await api.delete(f"{DEAD_LETTERS}/{dead['id']}", headers=headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "DEAD_LETTER_NOT_FOUND")
