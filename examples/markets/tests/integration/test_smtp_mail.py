"""The SMTP backend against a real SMTP server (aiosmtpd) on a free local port.

The server is this test's own: started on a port the system chose, stopped
afterwards. Its handler records what it received and can refuse recipients
for good (550) or for now (451).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from markets.config import Settings
from markets.mail import SmtpMailer, SmtpSecurity, SmtpServer
from markets.repositories.tables import JOB_TABLES
from markets.services.letters import Letters
from markets.services.mail import MailRejectedError, MailUnavailableError
from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.jobs import JobStatus
from tiered.testing import free_port

from ..conftest import Accounts, jobs_of


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps each message; refuses the addresses in ``refuse``."""

    received: list[tuple[list[str], Message]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted"


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp_port(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def letter(to: str = "ada@example.com") -> EmailMessage:
    letters = Letters("markets <no-reply@markets.test>", FrozenClock())
    return letters.welcome(to=to, display_name="Ada", message_key="job-1.welcome")


def mailer(port: int) -> SmtpMailer:
    return SmtpMailer(SmtpServer("127.0.0.1", port, SmtpSecurity.NONE, timeout=5))


async def test_a_message_reaches_the_server(smtp_port: int, inbox: Inbox) -> None:
    await mailer(smtp_port).send(letter())
    [(recipients, received)] = inbox.received
    assert recipients == ["ada@example.com"]
    assert received["Subject"] == "Welcome to markets"
    assert received["Message-ID"] == "<job-1.welcome@markets.test>"


async def test_a_refusal_for_good_and_one_for_now_are_told_apart(
    smtp_port: int, inbox: Inbox
) -> None:
    inbox.refuse = {
        "gone@example.com": "550 5.1.1 No such user",
        "full@example.com": "451 4.2.2 Mailbox full, try later",
    }
    with pytest.raises(MailRejectedError):
        await mailer(smtp_port).send(letter("gone@example.com"))
    with pytest.raises(MailUnavailableError):
        await mailer(smtp_port).send(letter("full@example.com"))
    assert inbox.received == []


async def test_a_server_that_is_not_there_is_a_connection_error() -> None:
    with pytest.raises(ConnectionError):
        await mailer(free_port()).send(letter())


@pytest.fixture
def markets_settings(
    database_url: str, database: Database, tmp_path: Path, smtp_port: int
) -> Settings:
    del database
    return Settings(
        environment="test",
        database_url=database_url,
        log_level="WARNING",
        jobs_in_process=False,
        mail_dir=tmp_path / "mail",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
    )


async def test_the_welcome_email_goes_through_smtp_once(
    accounts: Accounts,
    markets_app: FastAPI,
    run_jobs: Any,
    inbox: Inbox,
    tmp_path: Path,
) -> None:
    user = await accounts.register("ada@example.com")
    assert await run_jobs() == 1
    assert await run_jobs() == 0
    [(recipients, received)] = inbox.received
    assert recipients == ["ada@example.com"]
    assert received["Subject"] == "Welcome to markets"
    assert "ready" in received.get_payload()
    assert not (tmp_path / "mail").exists(), "SMTP replaces the console backend"
    jobs = jobs_of(markets_app)
    async with jobs.database.engine.connect() as connection:
        rows = (await connection.execute(JOB_TABLES.jobs.select())).mappings().all()
    assert [(row["task"], row["status"]) for row in rows] == [
        ("send-welcome-email", JobStatus.SUCCEEDED.value)
    ]
    assert rows[0]["payload"] == {"user_id": user["id"]}
