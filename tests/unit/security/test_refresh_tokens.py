"""Refresh tokens: single use, rotated in families, a reused one revokes its whole family."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import cast

import pytest
import structlog

from tiered.clock import FrozenClock
from tiered.errors import AuthenticationError, problem_for_error
from tiered.security.refresh_tokens import (
    REFRESH_FAMILY_LIFETIME,
    REFRESH_TOKEN_TTL,
    TOKEN_VERSION_CLAIM,
    InMemoryRefreshTokenStore,
    InvalidRefreshTokenError,
    IssuedRefreshToken,
    RefreshTokenRecord,
    RefreshTokens,
    check_token_version,
    claims_for,
    refresh_token_digest,
)
from tiered.security.tokens import (
    InvalidTokenError,
    TokenIssuer,
    TokenKey,
    TokenKeys,
    TokenVerifier,
)

FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store() -> InMemoryRefreshTokenStore:
    return InMemoryRefreshTokenStore()


@pytest.fixture
def tokens(store: InMemoryRefreshTokenStore, clock: FrozenClock) -> RefreshTokens:
    return RefreshTokens(store, clock)


async def refused(call: Awaitable[object]) -> InvalidRefreshTokenError:
    with pytest.raises(InvalidRefreshTokenError) as caught:
        await call
    return caught.value


def family(store: InMemoryRefreshTokenStore, family_id: str) -> list[RefreshTokenRecord]:
    return [record for record in store.records if record.family_id == family_id]


async def test_start_issues_an_opaque_token_in_a_new_family(
    tokens: RefreshTokens, store: InMemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    issued = await tokens.start("u1")
    assert FORMAT.fullmatch(issued.token)
    assert (issued.user_id, issued.generation) == ("u1", 0)
    assert issued.expires_at == clock.now() + REFRESH_TOKEN_TTL
    (record,) = store.records
    assert record.digest == hashlib.sha256(issued.token.encode()).hexdigest()
    assert record.family_id == issued.family_id
    assert record.family_expires_at == clock.now() + REFRESH_FAMILY_LIFETIME
    assert (record.used_at, record.revoked_at) == (None, None)
    other = await tokens.start("u1")
    assert other.family_id != issued.family_id
    assert other.token != issued.token


async def test_rotate_spends_the_token_and_returns_its_successor(
    tokens: RefreshTokens, store: InMemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    first = await tokens.start("u1")
    clock.advance(timedelta(minutes=5))
    second = await tokens.rotate(first.token)
    third = await tokens.rotate(second.token)
    assert [t.generation for t in (first, second, third)] == [0, 1, 2]
    assert {t.family_id for t in (first, second, third)} == {first.family_id}
    assert {t.user_id for t in (second, third)} == {"u1"}
    assert len({first.token, second.token, third.token}) == 3
    spent = await store.find(refresh_token_digest(first.token))
    assert spent is not None
    assert spent.used_at == clock.now()
    assert second.expires_at == clock.now() + REFRESH_TOKEN_TTL


async def test_reuse_revokes_the_family_and_the_newest_token_fails(
    tokens: RefreshTokens, store: InMemoryRefreshTokenStore
) -> None:
    stolen = await tokens.start("u1")
    legit = await tokens.rotate(stolen.token)
    newest = await tokens.rotate(legit.token)
    error = await refused(tokens.rotate(stolen.token))
    assert (error.status, error.code) == (401, "REFRESH_TOKEN_REUSED")
    assert isinstance(error, AuthenticationError)
    assert all(record.revoked_at is not None for record in family(store, stolen.family_id))
    assert (await refused(tokens.rotate(newest.token))).code == "REFRESH_TOKEN_REVOKED"


async def test_reuse_is_logged(tokens: RefreshTokens) -> None:
    first = await tokens.start("u1")
    await tokens.rotate(first.token)
    with structlog.testing.capture_logs() as captured:
        await refused(tokens.rotate(first.token))
    (entry,) = captured
    assert entry["event"] == "refresh_token_reused"
    assert (entry["log_level"], entry["user_id"]) == ("warning", "u1")
    assert entry["family_id"] == first.family_id
    assert first.token not in repr(entry)


async def test_reuse_leaves_other_families_alone(tokens: RefreshTokens) -> None:
    phone = await tokens.start("u1")
    laptop = await tokens.start("u1")
    await tokens.rotate(phone.token)
    await refused(tokens.rotate(phone.token))
    assert (await tokens.rotate(laptop.token)).family_id == laptop.family_id


async def test_logout_revokes_the_family(tokens: RefreshTokens) -> None:
    first = await tokens.start("u1")
    second = await tokens.rotate(first.token)
    other = await tokens.start("u1")
    assert await tokens.logout(first.token)  # any token of the family, even a spent one
    assert (await refused(tokens.rotate(second.token))).code == "REFRESH_TOKEN_REVOKED"
    assert (await tokens.rotate(other.token)).user_id == "u1"


@pytest.mark.parametrize("presented", ["", "nope", "A" * 43, "é" * 43, None])
async def test_logout_of_an_unknown_token_is_not_an_error(
    tokens: RefreshTokens, presented: str | None
) -> None:
    live = await tokens.start("u1")
    assert await tokens.logout(cast(str, presented)) is False
    assert (await tokens.rotate(live.token)).generation == 1


async def test_revoke_user_revokes_every_family_of_that_user_only(
    tokens: RefreshTokens,
) -> None:
    phone = await tokens.start("u1")
    laptop = await tokens.rotate((await tokens.start("u1")).token)
    someone_else = await tokens.start("u2")
    await tokens.revoke_user("u1")
    for token in (phone, laptop):
        assert (await refused(tokens.rotate(token.token))).code == "REFRESH_TOKEN_REVOKED"
    assert (await tokens.rotate(someone_else.token)).user_id == "u2"
    assert (await tokens.start("u1")).user_id == "u1"  # logging in again works


async def test_a_token_expires_after_its_ttl(tokens: RefreshTokens, clock: FrozenClock) -> None:
    kept = await tokens.start("u1")
    idle = await tokens.start("u1")
    clock.advance(REFRESH_TOKEN_TTL - timedelta(seconds=1))
    await tokens.rotate(kept.token)
    clock.advance(timedelta(seconds=1))
    error = await refused(tokens.rotate(idle.token))
    assert (error.status, error.code) == (401, "REFRESH_TOKEN_EXPIRED")


async def test_a_family_ends_at_its_absolute_lifetime(
    store: InMemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    tokens = RefreshTokens(store, clock, ttl=timedelta(days=30), family_lifetime=timedelta(days=90))
    started = clock.now()
    current = await tokens.start("u1")
    for _ in range(3):
        clock.advance(timedelta(days=25))
        current = await tokens.rotate(current.token)
    assert current.expires_at == started + timedelta(days=90)  # not 75 days + 30
    clock.advance(timedelta(days=90) - (clock.now() - started))
    assert (await refused(tokens.rotate(current.token))).code == "REFRESH_TOKEN_EXPIRED"


@pytest.mark.parametrize(
    "presented",
    ["", "short", "A" * 42, "A" * 44, "A" * 43, "+" * 43, "é" * 43, "A" * 10_000, None],
)
async def test_unknown_and_malformed_tokens_read_the_same(
    tokens: RefreshTokens, presented: str | None
) -> None:
    await tokens.start("u1")
    error = await refused(tokens.rotate(cast(str, presented)))
    assert (error.status, error.code) == (401, "REFRESH_TOKEN_INVALID")
    assert error.message == "The refresh token is invalid."


async def test_the_store_holds_digests_never_tokens(
    tokens: RefreshTokens, store: InMemoryRefreshTokenStore
) -> None:
    issued = [await tokens.start("u1")]
    for _ in range(3):
        issued.append(await tokens.rotate(issued[-1].token))
    held = [str(value) for record in store.records for value in dataclasses.astuple(record)]
    for token in issued:
        assert not any(token.token in value for value in held)
        assert token.token not in repr(token)
    assert {record.digest for record in store.records} == {
        refresh_token_digest(token.token) for token in issued
    }


async def test_randomness_is_injected(store: InMemoryRefreshTokenStore, clock: FrozenClock) -> None:
    counter = iter(range(256))

    def random_bytes(n: int) -> bytes:
        return bytes([next(counter)]) * n

    issued = await RefreshTokens(store, clock, random_bytes=random_bytes).start("u1")
    assert issued.family_id == "AAAAAAAAAAAAAAAAAAAAAA"
    assert issued.token == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"


@pytest.mark.parametrize("span", ["ttl", "family_lifetime"])
def test_lifetimes_must_be_positive(
    store: InMemoryRefreshTokenStore, clock: FrozenClock, span: str
) -> None:
    with pytest.raises(ValueError, match=span):
        RefreshTokens(store, clock, **{span: timedelta(0)})  # type: ignore[arg-type]


async def test_start_needs_a_user(tokens: RefreshTokens) -> None:
    with pytest.raises(ValueError, match="user"):
        await tokens.start("")


Hook = Callable[[], Awaitable[None]]


class YieldingStore(InMemoryRefreshTokenStore):
    """Yields to the event loop before every operation, as a database round trip would.

    ``before_add`` and ``before_mark_used`` run once, at that point, to force an interleaving.
    """

    def __init__(self) -> None:
        super().__init__()
        self.before_add: Hook | None = None
        self.before_mark_used: Hook | None = None

    async def add(self, record: RefreshTokenRecord) -> None:
        await asyncio.sleep(0)
        if self.before_add is not None:
            hook, self.before_add = self.before_add, None
            await hook()
        await super().add(record)

    async def find(self, digest: str) -> RefreshTokenRecord | None:
        await asyncio.sleep(0)
        return await super().find(digest)

    async def mark_used(self, digest: str, at: datetime) -> bool:
        await asyncio.sleep(0)
        if self.before_mark_used is not None:
            hook, self.before_mark_used = self.before_mark_used, None
            await hook()
        return await super().mark_used(digest, at)


async def test_concurrent_double_rotate_lets_one_through_and_revokes_the_family(
    clock: FrozenClock,
) -> None:
    store = YieldingStore()
    tokens = RefreshTokens(store, clock)
    first = await tokens.start("u1")
    results = await asyncio.gather(
        tokens.rotate(first.token), tokens.rotate(first.token), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, IssuedRefreshToken)]
    losers = [r for r in results if isinstance(r, InvalidRefreshTokenError)]
    assert (len(winners), len(losers)) == (1, 1)
    assert losers[0].code == "REFRESH_TOKEN_REUSED"
    assert all(record.revoked_at is not None for record in family(store, first.family_id))
    assert (await refused(tokens.rotate(winners[0].token))).code == "REFRESH_TOKEN_REVOKED"


async def test_many_concurrent_rotations_leave_no_live_token(clock: FrozenClock) -> None:
    store = YieldingStore()
    tokens = RefreshTokens(store, clock)
    first = await tokens.start("u1")
    results = await asyncio.gather(
        *(tokens.rotate(first.token) for _ in range(8)), return_exceptions=True
    )
    assert sum(isinstance(r, IssuedRefreshToken) for r in results) == 1
    assert all(record.revoked_at is not None for record in family(store, first.family_id))


async def test_logout_during_a_rotation_takes_the_successor_along(clock: FrozenClock) -> None:
    store = YieldingStore()
    tokens = RefreshTokens(store, clock)
    first = await tokens.start("u1")

    async def log_out() -> None:
        assert await tokens.logout(first.token)

    store.before_mark_used = log_out
    assert (await refused(tokens.rotate(first.token))).code == "REFRESH_TOKEN_REVOKED"
    assert all(record.revoked_at is not None for record in family(store, first.family_id))


async def test_a_whole_second_rotation_inside_the_first_leaves_no_live_token(
    clock: FrozenClock,
) -> None:
    store = YieldingStore()
    tokens = RefreshTokens(store, clock)
    first = await tokens.start("u1")
    inner: list[IssuedRefreshToken | InvalidRefreshTokenError] = []

    async def rotate_again() -> None:
        try:
            inner.append(await tokens.rotate(first.token))
        except InvalidRefreshTokenError as error:
            inner.append(error)

    store.before_add = rotate_again
    outer = await refused(tokens.rotate(first.token))
    assert outer.code == "REFRESH_TOKEN_REUSED"
    assert len(inner) == 1
    assert len(family(store, first.family_id)) == 3
    assert all(record.revoked_at is not None for record in family(store, first.family_id))


async def test_revoke_user_before_the_successor_is_stored_still_revokes_it(
    clock: FrozenClock,
) -> None:
    store = YieldingStore()
    tokens = RefreshTokens(store, clock)
    first = await tokens.start("u1")

    async def revoke_user() -> None:
        await tokens.revoke_user("u1")

    store.before_add = revoke_user
    assert (await refused(tokens.rotate(first.token))).code == "REFRESH_TOKEN_REVOKED"
    assert len(family(store, first.family_id)) == 2
    assert all(record.revoked_at is not None for record in family(store, first.family_id))


async def test_in_memory_store_mark_used_is_a_compare_and_set(
    store: InMemoryRefreshTokenStore, clock: FrozenClock
) -> None:
    now = clock.now()
    record = RefreshTokenRecord(
        digest="d1",
        user_id="u1",
        family_id="f1",
        generation=0,
        issued_at=now,
        expires_at=now + REFRESH_TOKEN_TTL,
        family_expires_at=now + REFRESH_FAMILY_LIFETIME,
    )
    await store.add(record)
    with pytest.raises(ValueError, match="already exists"):
        await store.add(record)
    assert await store.mark_used("unknown", now) is False
    assert await store.mark_used("d1", now) is True
    assert await store.mark_used("d1", now) is False
    await store.add(dataclasses.replace(record, digest="d2"))
    await store.revoke_family("f1", now)
    assert await store.mark_used("d2", now) is False
    later = now + timedelta(hours=1)
    await store.revoke_user("u1", later)
    assert {r.revoked_at for r in store.records} == {now}  # the first revocation stands
    assert "d1" not in repr(record)


def test_invalid_refresh_token_is_a_401_problem() -> None:
    error = InvalidRefreshTokenError("The refresh token has expired.", code="REFRESH_TOKEN_EXPIRED")
    response = problem_for_error(error, instance="/api/v1/auth/refresh", request_id="r-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = json.loads(bytes(response.body))
    assert (body["code"], body["title"]) == ("REFRESH_TOKEN_EXPIRED", "Invalid Refresh Token")
    assert body["type"].endswith("/problems/invalid-refresh-token")


def test_claims_for_writes_the_token_version() -> None:
    assert claims_for(3) == {TOKEN_VERSION_CLAIM: 3} == {"token_version": 3}
    for wrong in (True, "3", 3.0):
        with pytest.raises(TypeError):
            claims_for(cast(int, wrong))


def test_current_token_version_passes() -> None:
    check_token_version(4, 4)


@pytest.mark.parametrize("claimed", [3, 5])
def test_stale_token_version_is_revoked(claimed: int) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        check_token_version(claimed, 4)
    assert (caught.value.status, caught.value.code) == (401, "TOKEN_REVOKED")


@pytest.mark.parametrize("claimed", [None, "4", 4.0, True])
def test_missing_or_unusable_token_version_is_refused(claimed: object) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        check_token_version(claimed, 1 if claimed is True else 4)
    assert caught.value.code == "TOKEN_CLAIMS_INVALID"


def test_bumping_the_version_stops_issued_access_tokens(clock: FrozenClock) -> None:
    keys = TokenKeys(TokenKey.generate_eddsa(kid="k1"))
    issuer = TokenIssuer(keys, issuer="https://auth.example", audience="api", clock=clock)
    verifier = TokenVerifier(keys, issuer="https://auth.example", audience="api", clock=clock)
    claims = verifier.verify(issuer.issue("u1", claims=claims_for(7)))
    check_token_version(claims.extra.get(TOKEN_VERSION_CLAIM), 7)
    with pytest.raises(InvalidTokenError, match="revoked"):
        check_token_version(claims.extra.get(TOKEN_VERSION_CLAIM), 8)
