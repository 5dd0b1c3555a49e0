"""The SQL stores behind refresh tokens and API keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

from markets.domain.users import ApiKey, Permission, User
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.clock import FrozenClock
from tiered.security import (
    RefreshTokenRecord,
    RefreshTokens,
    authenticate_api_key,
    generate_api_key,
)

NewUow = Callable[[], MarketsUnitOfWork]


async def _user(new_uow: NewUow) -> uuid.UUID:
    async with new_uow() as uow:
        user = await uow.users.create(User(uuid.uuid4(), "sam@example.com", "Sam"))
    return user.id


def _record(user_id: uuid.UUID, clock: FrozenClock, digest: str, family: str) -> RefreshTokenRecord:
    now = clock.now()
    return RefreshTokenRecord(
        digest=digest,
        user_id=str(user_id),
        family_id=family,
        generation=0,
        issued_at=now,
        expires_at=now + timedelta(days=1),
        family_expires_at=now + timedelta(days=2),
    )


async def test_of_two_transactions_spending_one_token_one_wins(
    new_uow: NewUow, clock: FrozenClock
) -> None:
    user_id = await _user(new_uow)
    async with new_uow() as uow:
        await uow.refresh_tokens.add(_record(user_id, clock, "a" * 64, "family-1"))

    async def spend(at_minute: int) -> bool:
        async with new_uow() as uow:
            record = await uow.refresh_tokens.find("a" * 64)
            assert record is not None
            return await uow.refresh_tokens.mark_used(
                "a" * 64, clock.now() + timedelta(minutes=at_minute)
            )

    results = await asyncio.gather(spend(1), spend(2))
    assert sorted(results) == [False, True]
    async with new_uow().read_only() as uow:
        record = await uow.refresh_tokens.find("a" * 64)
    assert record is not None
    assert record.used_at is not None
    winner = results.index(True) + 1
    assert record.used_at == clock.now() + timedelta(minutes=winner)


async def test_revocations_touch_only_live_tokens_and_reads_are_fresh(
    new_uow: NewUow, clock: FrozenClock
) -> None:
    user_id = await _user(new_uow)
    async with new_uow() as uow:
        store = uow.refresh_tokens
        await store.add(_record(user_id, clock, "b" * 64, "family-1"))
        await store.add(_record(user_id, clock, "c" * 64, "family-2"))
        await store.revoke_family("family-1", clock.now())
        first = await store.find("b" * 64)
        assert first is not None
        assert first.revoked_at == clock.now(), "seen in the same transaction"
        assert not await store.mark_used("b" * 64, clock.now()), "a revoked token is not spent"
    clock.advance(timedelta(hours=1))
    async with new_uow() as uow:
        await uow.refresh_tokens.revoke_user(str(user_id), clock.now())
        old, other = (
            await uow.refresh_tokens.find("b" * 64),
            await uow.refresh_tokens.find("c" * 64),
        )
    assert old is not None
    assert old.revoked_at == clock.now() - timedelta(hours=1)
    assert other is not None
    assert other.revoked_at == clock.now()


async def test_rotation_through_the_sql_store(new_uow: NewUow, clock: FrozenClock) -> None:
    user_id = await _user(new_uow)
    async with new_uow() as uow:
        issued = await RefreshTokens(uow.refresh_tokens, clock).start(str(user_id))
    async with new_uow() as uow:
        successor = await RefreshTokens(uow.refresh_tokens, clock).rotate(issued.token)
    assert (successor.user_id, successor.family_id, successor.generation) == (
        str(user_id),
        issued.family_id,
        1,
    )


async def test_the_api_key_store_finds_by_prefix_with_its_owner(
    new_uow: NewUow, clock: FrozenClock
) -> None:
    user_id = await _user(new_uow)
    new = generate_api_key()
    async with new_uow() as uow:
        await uow.api_keys.create(
            ApiKey(
                uuid.uuid4(),
                user_id,
                "ci",
                new.prefix,
                new.digest,
                (Permission.WRITE, Permission.READ),
                clock.now(),
            )
        )
    async with new_uow() as uow:
        credential = await uow.api_keys.find_credential(new.prefix)
        assert credential is not None
        assert (credential.user.id, credential.user.is_active) == (user_id, True)
        assert credential.scopes == (Permission.READ, Permission.WRITE)
        key = await authenticate_api_key(new.key, uow.api_keys, clock)
    assert key.last_used_at == clock.now()
    assert key.scopes == frozenset({"read", "write"})
    async with new_uow().read_only() as uow:
        stored = await uow.api_keys.find_by_prefix(new.prefix)
        assert await uow.api_keys.find_by_prefix("missing0") is None
    assert stored is not None
    assert stored.last_used_at == clock.now()
