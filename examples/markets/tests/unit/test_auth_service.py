"""Sign-up, sign-in, refresh and sign-out on in-memory repositories, with a recording hasher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from markets.domain.errors import EmailTakenError, InvalidCredentialsError, WeakPasswordError
from markets.domain.users import Actor, Role
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.services.admin_users import AdminUserService, UserAccessChanges
from markets.services.auth import AuthService, SessionLifetimes
from tiered.clock import FrozenClock
from tiered.repository import Filter
from tiered.security import (
    Argon2PasswordHasher,
    InvalidRefreshTokenError,
    TokenIssuer,
    TokenKey,
    TokenKeys,
    TokenVerifier,
    VerifyResult,
)

PASSWORD = "tram line to the harbour"


class RecordingHasher:
    """A real argon2id hasher that records each call: what was verified, what was made."""

    def __init__(self, memory_cost: int) -> None:
        self.inner = Argon2PasswordHasher(
            memory_cost=memory_cost, time_cost=1, parallelism=1, allow_weak_for_tests=True
        )
        self.verified: list[str] = []
        self.hashed = 0

    @property
    def dummy_hash(self) -> str:
        return self.inner.dummy_hash

    async def hash(self, password: str) -> str:
        self.hashed += 1
        return await self.inner.hash(password)

    async def verify(self, password: str, hashed: str) -> VerifyResult:
        self.verified.append(hashed)
        return await self.inner.verify(password, hashed)


@pytest.fixture
def hashers() -> Iterator[tuple[RecordingHasher, RecordingHasher]]:
    """Two parameter sets: the one accounts were hashed with, and the current one."""
    old, new = RecordingHasher(memory_cost=8), RecordingHasher(memory_cost=16)
    yield old, new
    old.inner.close()
    new.inner.close()


KEYS = TokenKeys(TokenKey.hs256("a unit-test secret, 32 bytes or more, random enough", kid="t"))


def service(
    uow: InMemoryMarketsUnitOfWork, hasher: RecordingHasher, clock: FrozenClock
) -> AuthService:
    issuer = TokenIssuer(KEYS, issuer="markets", audience="markets-api", clock=clock)
    return AuthService(uow, hasher, issuer, clock, SessionLifetimes())


async def _hash_of(uow: InMemoryMarketsUnitOfWork, email: str) -> str | None:
    async with uow.read_only():
        user = await uow.users.get_by_email(email)
    assert user is not None
    return user.password_hash


async def test_a_changed_parameter_set_rehashes_at_the_next_good_sign_in(
    uow: InMemoryMarketsUnitOfWork,
    hashers: tuple[RecordingHasher, RecordingHasher],
    clock: FrozenClock,
) -> None:
    old, new = hashers
    await service(uow, old, clock).register("ada@example.com", PASSWORD, "Ada")
    first = await _hash_of(uow, "ada@example.com")
    assert first is not None
    assert "$m=8," in first

    with pytest.raises(InvalidCredentialsError):
        await service(uow, new, clock).log_in("ada@example.com", "not the password")
    assert await _hash_of(uow, "ada@example.com") == first, "a failed check never rehashes"
    assert new.verified == [first]

    await service(uow, new, clock).log_in("ada@example.com", PASSWORD)
    upgraded = await _hash_of(uow, "ada@example.com")
    assert upgraded is not None
    assert "$m=16," in upgraded
    await service(uow, new, clock).log_in("ada@example.com", PASSWORD)
    assert await _hash_of(uow, "ada@example.com") == upgraded, "current hashes stay"
    assert new.hashed == 0, "the new hash came from the verification, not another hash"


async def test_an_unknown_email_costs_one_verification_like_a_wrong_password(
    uow: InMemoryMarketsUnitOfWork,
    hashers: tuple[RecordingHasher, RecordingHasher],
    clock: FrozenClock,
) -> None:
    hasher = hashers[0]
    auth = service(uow, hasher, clock)
    await auth.register("bo@example.com", PASSWORD, "Bo")
    for email in ("nobody@example.com", "not an email", "bo@example.com"):
        hasher.verified.clear()
        with pytest.raises(InvalidCredentialsError):
            await auth.log_in(email, "a wrong password")
        assert len(hasher.verified) == 1, email
    hasher.verified.clear()
    with pytest.raises(InvalidCredentialsError):
        await auth.log_in("nobody@example.com", "x")
    assert hasher.verified == [hasher.dummy_hash]


async def test_registration_rules(
    uow: InMemoryMarketsUnitOfWork,
    hashers: tuple[RecordingHasher, RecordingHasher],
    clock: FrozenClock,
) -> None:
    hasher = hashers[0]
    auth = service(uow, hasher, clock)
    view = await auth.register(" Cy@Example.COM ", PASSWORD, "Cy")
    assert (view.email, view.role) == ("cy@example.com", Role.USER)
    with pytest.raises(EmailTakenError):
        await auth.register("CY@example.com", "another good password", "Cy 2")
    for weak in ("short", "cy2@example.com", "QWERTY123456"):
        with pytest.raises(WeakPasswordError):
            await auth.register("cy2@example.com", weak, "Cy 2")
    assert hasher.hashed == 1, "refused registrations hash nothing"


async def test_rotation_reuse_and_logout(
    uow: InMemoryMarketsUnitOfWork,
    hashers: tuple[RecordingHasher, RecordingHasher],
    clock: FrozenClock,
) -> None:
    auth = service(uow, hashers[0], clock)
    await auth.register("di@example.com", PASSWORD, "Di")
    tokens = await auth.log_in("di@example.com", PASSWORD)
    verifier = TokenVerifier(KEYS, issuer="markets", audience="markets-api", clock=clock)
    claims = verifier.verify(tokens.access_token)
    assert claims.extra["token_version"] == 0
    assert tokens.expires_in == 900

    renewed = await auth.refresh(tokens.refresh_token)
    assert verifier.verify(renewed.access_token).sub == claims.sub
    with pytest.raises(InvalidRefreshTokenError) as reused:
        await auth.refresh(tokens.refresh_token)
    assert reused.value.code == "REFRESH_TOKEN_REUSED"
    with pytest.raises(InvalidRefreshTokenError) as revoked:
        await auth.refresh(renewed.refresh_token)
    assert revoked.value.code == "REFRESH_TOKEN_REVOKED", "the reuse was committed"

    again = await auth.log_in("di@example.com", PASSWORD)
    await auth.log_out(again.refresh_token)
    with pytest.raises(InvalidRefreshTokenError):
        await auth.refresh(again.refresh_token)
    await auth.log_out("unknown")


async def test_deactivation_revokes_sessions_and_bumps_the_token_version(
    uow: InMemoryMarketsUnitOfWork,
    hashers: tuple[RecordingHasher, RecordingHasher],
    clock: FrozenClock,
) -> None:
    auth = service(uow, hashers[0], clock)
    admin = await AdminUserService(uow, clock).create(
        hashers[0],
        email="root@example.com",
        display_name="Root",
        role=Role.ADMIN,
        password=PASSWORD,
    )
    view = await auth.register("eli@example.com", PASSWORD, "Eli")
    tokens = await auth.log_in("eli@example.com", PASSWORD)
    admins = AdminUserService(uow, clock)
    await admins.update(Actor(admin.id, Role.ADMIN), view.id, UserAccessChanges(is_active=False))
    async with uow.read_only():
        user = await uow.users.find_one([Filter.eq("id", view.id)])
    assert user is not None
    assert (user.is_active, user.token_version) == (False, 1)
    with pytest.raises(InvalidRefreshTokenError):
        await auth.refresh(tokens.refresh_token)
    with pytest.raises(InvalidCredentialsError):
        await auth.log_in("eli@example.com", PASSWORD)
    await admins.update(Actor(admin.id, Role.ADMIN), view.id, UserAccessChanges(is_active=True))
    async with uow.read_only():
        user = await uow.users.find_one([Filter.eq("id", view.id)])
    assert user is not None
    assert (user.is_active, user.token_version) == (True, 1)
