"""Sending email: once per job effect, retried when worth it, broken off by the breaker."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from markets.config import Settings
from markets.domain.notifications import Channel, DeliveryResult, DeliveryStatus
from markets.mail import ConsoleMailer, resilient_mailer
from markets.services.email_delivery import ALREADY_SENT, EmailDelivery, failed_email
from markets.services.letters import Letters
from markets.services.mail import MailRejectedError, MailUnavailableError
from tiered.clock import FrozenClock
from tiered.errors import CacheError, CircuitBreakerOpenError
from tiered.resilience import BreakerState, Deduplicator, MemoryBreakerBackend
from tiered.results import Err, Ok
from tiered.store import MemoryStore


class FlakyMailer:
    """Raises the queued errors one per call, then delivers; records what it delivered."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)


class UnreachableStore(MemoryStore):
    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        raise CacheError("Redis is down")


def letter(clock: FrozenClock, key: str = "job-1.welcome") -> EmailMessage:
    letters = Letters("markets <no-reply@markets.test>", clock)
    return letters.welcome(to="ada@example.com", display_name="Ada", message_key=key)


def delivery(
    mailer: FlakyMailer, clock: FrozenClock, store: MemoryStore | None = None
) -> EmailDelivery:
    dedup = Deduplicator(store or MemoryStore(clock=clock), clock=clock)
    return EmailDelivery(mailer, dedup, cooldown=timedelta(hours=1))


async def test_an_effect_key_sends_once_within_the_cooldown(clock: FrozenClock) -> None:
    mailer = FlakyMailer()
    emails = delivery(mailer, clock)
    first = await emails.send_once("job-1:email", letter(clock))
    again = await emails.send_once("job-1:email", letter(clock))
    other = await emails.send_once("job-2:email", letter(clock, "job-2.welcome"))
    assert first == Ok(DeliveryResult(Channel.EMAIL, DeliveryStatus.DELIVERED))
    assert again == Ok(DeliveryResult(Channel.EMAIL, DeliveryStatus.DELIVERED, ALREADY_SENT))
    assert isinstance(other, Ok)
    assert [str(message["Message-ID"]) for message in mailer.sent] == [
        "<job-1.welcome@markets.test>",
        "<job-2.welcome@markets.test>",
    ]


async def test_a_failed_send_forgets_its_mark_so_the_retry_sends(clock: FrozenClock) -> None:
    refused = MailUnavailableError("busy")
    mailer = FlakyMailer(refused)
    emails = delivery(mailer, clock)
    failed = await emails.send_once("job-1:email", letter(clock))
    assert failed == Err(refused)
    assert isinstance(await emails.send_once("job-1:email", letter(clock)), Ok)
    assert (mailer.calls, len(mailer.sent)) == (2, 1)


async def test_without_its_dedup_store_an_email_is_still_sent(clock: FrozenClock) -> None:
    mailer = FlakyMailer()
    emails = delivery(mailer, clock, UnreachableStore(clock=clock))
    assert isinstance(await emails.send_once("job-1:email", letter(clock)), Ok)
    assert len(mailer.sent) == 1


def test_what_a_user_reads_of_a_failure_names_no_server() -> None:
    down = failed_email(ConnectionRefusedError(111, "smtp.internal:25 refused"), final=False)
    last = failed_email(TimeoutError("smtp.internal"), final=True)
    refused = failed_email(MailRejectedError("550 no such user"), final=False)
    assert all(
        result.status is DeliveryStatus.FAILED and "smtp" not in (result.detail or "")
        for result in (down, last, refused)
    )
    assert [down.detail, last.detail, refused.detail] == [
        "the mail server could not be reached; another attempt is scheduled",
        "the mail server could not be reached; no further attempts",
        "the mail server refused the message",
    ]


def settings(**values: object) -> Settings:
    chosen: dict[str, object] = {"breaker_minimum_calls": 2, "breaker_failure_rate": 1.0}
    return Settings(environment="test", **{**chosen, **values})  # type: ignore[arg-type]


async def test_transient_failures_are_retried_with_recorded_waits(clock: FrozenClock) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    inner = FlakyMailer(MailUnavailableError("421 busy"), TimeoutError())
    mailer = resilient_mailer(
        inner,
        settings(mail_retry_attempts=3, breaker_minimum_calls=10),
        breaker_backend=MemoryBreakerBackend(clock=clock),
        clock=clock,
        sleep=record,
    )
    await mailer.send(letter(clock))
    assert (inner.calls, len(inner.sent), len(waits)) == (3, 1, 2)


async def test_a_refused_message_is_neither_retried_nor_held_against_the_server(
    clock: FrozenClock,
) -> None:
    inner = FlakyMailer(*[MailRejectedError("550 no such user")] * 3)
    mailer = resilient_mailer(
        inner, settings(), breaker_backend=MemoryBreakerBackend(clock=clock), clock=clock
    )
    for _ in range(3):
        with pytest.raises(MailRejectedError):
            await mailer.send(letter(clock))
    assert inner.calls == 3
    assert (await mailer.breaker.state()).state is BreakerState.CLOSED


async def test_an_open_breaker_refuses_without_calling_the_server(clock: FrozenClock) -> None:
    inner = FlakyMailer(*[ConnectionRefusedError(111, "refused")] * 10)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    mailer = resilient_mailer(
        inner,
        settings(mail_retry_attempts=5),
        breaker_backend=MemoryBreakerBackend(clock=clock),
        clock=clock,
        sleep=record,
    )
    with pytest.raises(CircuitBreakerOpenError):
        await mailer.send(letter(clock))
    assert inner.calls == 2, "the third attempt met the open circuit"
    with pytest.raises(CircuitBreakerOpenError):
        await mailer.send(letter(clock))
    assert inner.calls == 2


async def test_the_console_backend_writes_one_file_per_message(
    tmp_path: Path, clock: FrozenClock
) -> None:
    mailer = ConsoleMailer(tmp_path / "mail")
    await mailer.send(letter(clock))
    await mailer.send(letter(clock))  # the same message again, as a retried job sends it
    await mailer.send(letter(clock, "job-2.welcome"))
    files = sorted(path.name for path in (tmp_path / "mail").iterdir())
    assert files == ["job-1.welcome@markets.test.eml", "job-2.welcome@markets.test.eml"]
    written = (tmp_path / "mail" / files[0]).read_text()
    assert "To: Ada <ada@example.com>" in written
    assert "Subject: Welcome to markets" in written
