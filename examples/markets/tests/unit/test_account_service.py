"""One's own account on in-memory repositories: password changes, API keys."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from markets.domain.errors import (
    ApiKeyNotFoundError,
    CurrentPasswordError,
    ScopeNotHeldError,
    WeakPasswordError,
)
from markets.domain.users import Actor, Permission, Role
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.services.accounts import AccountService, ProfileChanges
from markets.services.auth import create_account
from tiered.clock import FrozenClock
from tiered.errors import UnprocessableContentError
from tiered.repository import Filter
from tiered.security import Argon2PasswordHasher, RefreshTokens, refresh_token_digest

PASSWORD = "tram line to the harbour"


@pytest.fixture
def hasher() -> Iterator[Argon2PasswordHasher]:
    hasher = Argon2PasswordHasher(
        memory_cost=8, time_cost=1, parallelism=1, allow_weak_for_tests=True
    )
    yield hasher
    hasher.close()


@pytest.fixture
async def fay(
    uow: InMemoryMarketsUnitOfWork, hasher: Argon2PasswordHasher, clock: FrozenClock
) -> Actor:
    async with uow:
        view = await create_account(
            uow,
            clock,
            email="fay@example.com",
            display_name="Fay",
            password_hash=await hasher.hash(PASSWORD),
        )
    return Actor(view.id, Role.USER)


async def test_a_new_password_revokes_sessions_and_keys_in_one_commit(
    uow: InMemoryMarketsUnitOfWork, hasher: Argon2PasswordHasher, clock: FrozenClock, fay: Actor
) -> None:
    accounts = AccountService(uow, hasher, clock)
    key = await accounts.create_api_key(fay, "ci", (Permission.READ,))
    async with uow:
        session = await RefreshTokens(uow.refresh_tokens, clock).start(str(fay.user_id))
    async with uow.read_only():
        before = await uow.users.get_by_id(fay.user_id)
    assert before is not None
    hash_before = before.password_hash

    with pytest.raises(UnprocessableContentError) as missing:
        await accounts.update_profile(fay, ProfileChanges(password="a brand new passphrase"))
    assert missing.value.code == "CURRENT_PASSWORD_REQUIRED"
    with pytest.raises(CurrentPasswordError):
        await accounts.update_profile(
            fay, ProfileChanges(password="a brand new passphrase", current_password="wrong")
        )
    with pytest.raises(WeakPasswordError):
        await accounts.update_profile(
            fay, ProfileChanges(password="fay@example.com", current_password=PASSWORD)
        )
    async with uow.read_only():
        unchanged = await uow.users.get_by_id(fay.user_id)
    assert unchanged is not None
    assert (unchanged.password_hash, unchanged.token_version) == (hash_before, 0)

    await accounts.update_profile(
        fay, ProfileChanges(password="a brand new passphrase", current_password=PASSWORD)
    )
    async with uow.read_only():
        user = await uow.users.get_by_id(fay.user_id)
        stored_key = await uow.api_keys.get_by_id(key.id)
        record = await uow.refresh_tokens.find(refresh_token_digest(session.token))
    assert user is not None
    assert user.token_version == 1
    assert user.password_hash is not None
    assert (await hasher.verify("a brand new passphrase", user.password_hash)).valid
    assert stored_key is not None
    assert stored_key.revoked_at == clock.now()
    assert record is not None
    assert record.revoked_at == clock.now()


async def test_keys_hold_only_what_their_owner_holds(
    uow: InMemoryMarketsUnitOfWork, hasher: Argon2PasswordHasher, clock: FrozenClock, fay: Actor
) -> None:
    accounts = AccountService(uow, hasher, clock)
    with pytest.raises(ScopeNotHeldError) as refused:
        await accounts.create_api_key(fay, "too much", (Permission.READ, Permission.DELETE))
    assert refused.value.details == {"missing_permissions": ["delete"]}
    key = await accounts.create_api_key(fay, "ok", (Permission.WRITE, Permission.READ))
    assert key.scopes == (Permission.READ, Permission.WRITE)
    page = await accounts.api_keys(fay)
    assert [item.id for item in page.items] == [key.id]
    assert not hasattr(page.items[0], "key")


async def test_another_users_key_is_not_found(
    uow: InMemoryMarketsUnitOfWork, hasher: Argon2PasswordHasher, clock: FrozenClock, fay: Actor
) -> None:
    accounts = AccountService(uow, hasher, clock)
    key = await accounts.create_api_key(fay, "mine", (Permission.READ,))
    stranger = Actor(uuid4(), Role.ADMIN)
    with pytest.raises(ApiKeyNotFoundError):
        await accounts.revoke_api_key(stranger, key.id)
    await accounts.revoke_api_key(fay, key.id)
    await accounts.revoke_api_key(fay, key.id)
    async with uow.read_only():
        revoked = await uow.api_keys.find_one([Filter.eq("id", key.id)])
    assert revoked is not None
    assert revoked.revoked_at == clock.now()
