"""Use cases enqueue their jobs in their own transaction: committed together, or not at all.

In-memory units of work with the library's ``InMemoryJobQueue``: a job is in
``queue.jobs`` once the transaction that enqueued it commits, never if it
rolls back.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TypeVar
from uuid import uuid4

import pytest

from markets.domain.errors import EmailTakenError, ImportFileError, InvalidTransitionError
from markets.domain.markets import MarketStatus, Outcome
from markets.domain.positions import Side
from markets.domain.users import Actor, User
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.services.auth import AuthService
from markets.services.market_import import ImportService
from markets.services.markets import MarketDraft, MarketService
from markets.services.positions import PositionService
from markets.services.resolution_notices import ResolutionNotices
from markets.services.tasks import (
    ANNOUNCE_RESOLUTION,
    IMPORT_MARKETS,
    NOTIFY_MARKET_RESOLVED,
    SEND_WELCOME_EMAIL,
    ResolutionAnnouncement,
    resolution_notice_key,
)
from tiered.clock import FrozenClock
from tiered.jobs import Enqueued, InMemoryJobQueue, JobContext, SupportsAfterCommit, Task
from tiered.repository import InMemoryStore
from tiered.security import Argon2PasswordHasher, TokenIssuer, TokenKey, TokenKeys

P = TypeVar("P")
PASSWORD = "tram line to the harbour"
KEYS = TokenKeys(TokenKey.hs256("a unit-test secret, 32 bytes or more, random enough", kid="t"))


def queue_of(uow: InMemoryMarketsUnitOfWork) -> InMemoryJobQueue:
    queue = uow.job_queue
    assert isinstance(queue, InMemoryJobQueue)
    return queue


@pytest.fixture
def hasher() -> Iterator[Argon2PasswordHasher]:
    hasher = Argon2PasswordHasher(
        memory_cost=8, time_cost=1, parallelism=1, allow_weak_for_tests=True
    )
    yield hasher
    hasher.close()


def auth(uow: InMemoryMarketsUnitOfWork, hasher: Any, clock: FrozenClock) -> AuthService:
    issuer = TokenIssuer(KEYS, issuer="markets", audience="markets-api", clock=clock)
    return AuthService(uow, hasher, issuer, clock)


async def test_a_sign_up_enqueues_its_welcome_email_when_it_commits(
    uow: InMemoryMarketsUnitOfWork, hasher: Any, clock: FrozenClock
) -> None:
    user = await auth(uow, hasher, clock).register("ada@example.com", PASSWORD, "Ada")
    [job] = queue_of(uow).jobs
    assert (job.task, job.payload, job.dedup_key) == (
        SEND_WELCOME_EMAIL.name,
        {"user_id": str(user.id)},
        f"welcome:{user.id}",
    )


class SignUpDuringHashing:
    """A hasher during whose work another sign-up takes the same email (a real race)."""

    def __init__(self, inner: Any, store: InMemoryStore, email: str) -> None:
        self.inner, self.store, self.email = inner, store, email
        self.dummy_hash = inner.dummy_hash

    async def hash(self, password: str) -> str:
        other = InMemoryMarketsUnitOfWork(self.store)
        async with other:
            await other.users.create(User(uuid4(), self.email, "First"))
        hashed: str = await self.inner.hash(password)
        return hashed

    async def verify(self, password: str, hashed: str) -> Any:
        return await self.inner.verify(password, hashed)


async def test_a_sign_up_that_fails_enqueues_nothing(
    uow: InMemoryMarketsUnitOfWork, hasher: Any, clock: FrozenClock
) -> None:
    racing = SignUpDuringHashing(hasher, uow.store, "bo@example.com")
    with pytest.raises(EmailTakenError):
        await auth(uow, racing, clock).register("bo@example.com", PASSWORD, "Bo")
    assert queue_of(uow).jobs == []


class FailsAfterEnqueueing:
    """Writes the job, then the transaction fails (a lost connection, say)."""

    def __init__(self) -> None:
        self.inner = InMemoryJobQueue()

    async def enqueue(
        self, uow: SupportsAfterCommit, task: Task[P, Any], payload: P, **options: Any
    ) -> Enqueued:
        await self.inner.enqueue(uow, task, payload, **options)
        raise ConnectionResetError("the database went away")


async def test_a_sign_up_rolled_back_after_enqueueing_leaves_no_job(
    hasher: Any, clock: FrozenClock
) -> None:
    failing = FailsAfterEnqueueing()
    uow = InMemoryMarketsUnitOfWork(jobs=failing)
    with pytest.raises(ConnectionResetError):
        await auth(uow, hasher, clock).register("cy@example.com", PASSWORD, "Cy")
    assert failing.inner.jobs == []
    async with uow.read_only():
        assert await uow.users.get_by_email("cy@example.com") is None


async def test_resolving_enqueues_one_announcement_and_a_refused_resolve_none(
    uow: InMemoryMarketsUnitOfWork, alice: Actor, moderator: Actor
) -> None:
    markets = MarketService(uow)
    live = await markets.create(alice, MarketDraft("Rain?", status=MarketStatus.ACTIVE))
    await markets.resolve(moderator, live.id, Outcome.YES)
    with pytest.raises(InvalidTransitionError):
        await markets.resolve(moderator, live.id, Outcome.NO)
    [job] = queue_of(uow).jobs
    assert (job.task, job.payload, job.dedup_key) == (
        ANNOUNCE_RESOLUTION.name,
        {"market_id": str(live.id)},
        f"market-resolution:{live.id}",
    )


async def test_the_announcement_enqueues_one_notice_per_holder_however_often_it_runs(
    uow: InMemoryMarketsUnitOfWork, alice: Actor, bob: Actor, moderator: Actor, clock: FrozenClock
) -> None:
    """Holders span pages (two rows a page), bob holds three positions: each is told once."""
    live = await MarketService(uow).create(alice, MarketDraft("Rain?", status=MarketStatus.ACTIVE))
    positions = PositionService(uow)
    for actor in (bob, alice, bob, moderator, bob):
        await positions.buy(actor, live.id, Side.YES, Decimal(1))
    await MarketService(uow).resolve(moderator, live.id, Outcome.NO)

    notices = ResolutionNotices(lambda: uow, None, None, clock, page_size=2)  # type: ignore[arg-type]  # no email here
    announcement = ResolutionAnnouncement(market_id=live.id)
    context: JobContext = None  # type: ignore[assignment]  # the fan-out does not read it
    first = await notices.announce(context, announcement)
    again = await notices.announce(context, announcement)

    holders = {alice.user_id, bob.user_id, moderator.user_id}
    assert (first.holders, first.notices_enqueued) == (3, 3)
    assert (again.holders, again.notices_enqueued) == (3, 0)
    told = queue_of(uow).of_task(NOTIFY_MARKET_RESOLVED)
    assert sorted(job.dedup_key or "" for job in told) == sorted(
        resolution_notice_key(live.id, holder) for holder in holders
    )


async def test_an_import_is_enqueued_for_its_uploader_and_a_bad_file_is_refused_at_once(
    uow: InMemoryMarketsUnitOfWork, alice: Actor
) -> None:
    service = ImportService(uow)
    job_id = await service.start(alice, "../../etc/markets.csv", b"name\nRain?\n")
    [job] = queue_of(uow).jobs
    assert (job.id, job.task, job.owner_id) == (job_id, IMPORT_MARKETS.name, str(alice.user_id))
    assert job.payload["filename"] == "markets.csv"
    assert job.payload["content"] == "name\nRain?\n"
    with pytest.raises(ImportFileError):
        await service.start(alice, "x.csv", b"title\nRain?\n")
    with pytest.raises(ImportFileError):
        await service.start(alice, "x.csv", "name\nPluie\xa0?\n".encode("latin-1"))
    assert len(queue_of(uow).jobs) == 1
