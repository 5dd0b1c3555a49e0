"""Password hashing: argon2id parameters, re-hashing, input bounds, the bounded pool, dummy work."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import argon2
import pytest

from tiered.errors import (
    ConfigurationError,
    ExternalServiceError,
    InvalidInputError,
    ProcessingError,
)
from tiered.security import (
    MAX_PASSWORD_BYTES,
    Argon2PasswordHasher,
    HashingPool,
    PasswordHasher,
    PasswordHasherBusyError,
    VerifyResult,
    verify_or_dummy,
)


def weak_hasher(pool: HashingPool | None = None, memory_cost: int = 8) -> Argon2PasswordHasher:
    """Microsecond hashing for tests; the parameters are checked on their own below."""
    return Argon2PasswordHasher(
        memory_cost=memory_cost, time_cost=1, parallelism=1, pool=pool, allow_weak_for_tests=True
    )


SECRET = "correct horse battery staple"


@pytest.fixture
def hasher() -> Iterator[Argon2PasswordHasher]:
    instance = weak_hasher()
    yield instance
    instance.close()


async def test_round_trip(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash(SECRET)

    assert hashed.startswith("$argon2id$")
    assert SECRET not in hashed
    assert await hasher.verify(SECRET, hashed) == VerifyResult(valid=True, new_hash=None)


async def test_each_hash_is_salted(hasher: Argon2PasswordHasher) -> None:
    assert await hasher.hash(SECRET) != await hasher.hash(SECRET)


async def test_wrong_password(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash(SECRET)

    assert await hasher.verify(SECRET + "!", hashed) == VerifyResult(valid=False)
    assert await hasher.verify("", hashed) == VerifyResult(valid=False)


@pytest.mark.parametrize(
    "password",
    ["pässwörd ключ 密码 🔑", "before\x00after", "x" * MAX_PASSWORD_BYTES, "é" * 512],
    ids=["non-ascii", "nul", "max-ascii", "max-two-byte"],
)
async def test_unusual_passwords_round_trip(hasher: Argon2PasswordHasher, password: str) -> None:
    hashed = await hasher.hash(password)

    assert (await hasher.verify(password, hashed)).valid
    assert not (await hasher.verify(password[:-1], hashed)).valid


async def test_nul_is_not_a_terminator(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash("before\x00after")

    assert not (await hasher.verify("before", hashed)).valid
    assert not (await hasher.verify("before\x00", hashed)).valid


async def test_unicode_is_normalised(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash("caf\u00e9")  # composed é

    assert (await hasher.verify("cafe\u0301", hashed)).valid  # e + combining acute


@pytest.mark.parametrize(
    "password",
    ["x" * (MAX_PASSWORD_BYTES + 1), "é" * 513, "x" * 10_000_000],
    ids=["ascii", "two-byte", "huge"],
)
async def test_too_long_passwords_are_refused_before_hashing(password: str) -> None:
    pool = HashingPool(max_concurrency=1, max_waiting=0)
    hasher = weak_hasher(pool)
    hashed = await hasher.hash("short")
    pool.close()  # any work reaching the pool now would fail with RuntimeError

    with pytest.raises(InvalidInputError) as raised:
        await hasher.hash(password)
    assert raised.value.status == 400
    assert raised.value.code == "PASSWORD_TOO_LONG"
    assert password not in str(raised.value)
    with pytest.raises(InvalidInputError):
        await hasher.verify(password, hashed)


async def test_default_parameters_are_owasp_argon2id() -> None:
    hasher = Argon2PasswordHasher()
    try:
        hashed = await hasher.hash(SECRET)
    finally:
        hasher.close()

    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    parameters = argon2.extract_parameters(hashed)
    assert (parameters.type, parameters.memory_cost, parameters.time_cost) == (
        argon2.Type.ID,
        19_456,
        2,
    )
    assert parameters.parallelism == 1


@pytest.mark.parametrize(
    "weak",
    [{"memory_cost": 19_455}, {"time_cost": 1}, {"parallelism": 0}],
    ids=["memory", "time", "parallelism"],
)
def test_weak_parameters_need_the_explicit_flag(weak: dict[str, int]) -> None:
    with pytest.raises(ConfigurationError, match="below the OWASP minimum"):
        Argon2PasswordHasher(**weak)  # type: ignore[arg-type]


def test_stronger_parameters_are_accepted() -> None:
    hasher = Argon2PasswordHasher(memory_cost=65_536, time_cost=3, parallelism=4)
    hasher.close()

    assert "memory_cost=65536" in repr(hasher)


async def test_outdated_hash_is_upgraded_on_success_only(hasher: Argon2PasswordHasher) -> None:
    old = Argon2PasswordHasher(
        memory_cost=16, time_cost=1, parallelism=1, allow_weak_for_tests=True
    )
    try:
        outdated = await old.hash(SECRET)
    finally:
        old.close()

    assert await hasher.verify("wrong", outdated) == VerifyResult(valid=False, new_hash=None)

    result = await hasher.verify(SECRET, outdated)
    assert result.valid
    assert result.new_hash is not None
    assert result.new_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert await hasher.verify(SECRET, result.new_hash) == VerifyResult(valid=True)


async def test_unknown_hash_format_is_a_server_error(hasher: Argon2PasswordHasher) -> None:
    with pytest.raises(ProcessingError) as raised:
        await hasher.verify(SECRET, "$2b$12$notanargon2hash")
    assert SECRET not in str(raised.value)


def test_repr_shows_no_secret(hasher: Argon2PasswordHasher) -> None:
    assert repr(hasher) == "Argon2PasswordHasher(memory_cost=8, time_cost=1, parallelism=1)"


# --- dummy verification for unknown accounts ---------------------------------------------------


class CountingHasher:
    """Accepts every password and records each verification it is asked for."""

    dummy_hash = "dummy"

    def __init__(self) -> None:
        self.verified: list[str] = []

    async def hash(self, password: str) -> str:
        return f"hashed:{len(password)}"

    async def verify(self, password: str, hashed: str) -> VerifyResult:
        self.verified.append(hashed)
        return VerifyResult(valid=True, new_hash="upgraded")


async def test_unknown_account_costs_one_verification_and_fails() -> None:
    counting = CountingHasher()
    hasher: PasswordHasher = counting

    result = await verify_or_dummy(hasher, SECRET, None)

    assert result == VerifyResult(valid=False, new_hash=None)
    assert counting.verified == ["dummy"]


async def test_known_account_costs_one_verification() -> None:
    counting = CountingHasher()

    result = await verify_or_dummy(counting, SECRET, "stored")

    assert result == VerifyResult(valid=True, new_hash="upgraded")
    assert counting.verified == ["stored"]


async def test_dummy_hash_is_real_argon2_work_with_current_parameters(
    hasher: Argon2PasswordHasher,
) -> None:
    dummy = hasher.dummy_hash
    parameters = argon2.extract_parameters(dummy)

    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (8, 1, 1)
    with pytest.raises(argon2.exceptions.VerifyMismatchError):  # well-formed: fully computed
        argon2.PasswordHasher().verify(dummy, SECRET)
    assert await verify_or_dummy(hasher, SECRET, None) == VerifyResult(valid=False)
    other = weak_hasher()
    other.close()
    assert other.dummy_hash != dummy, "random per instance, so it cannot be precomputed against"


# --- the bounded pool ----------------------------------------------------------------------------


class GatedWork:
    """Blocking work that holds its thread until the test lets it go, tracking overlap."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.gate = threading.Semaphore(0)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def __call__(self) -> str:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        self.entered.release()
        released = self.gate.acquire(timeout=10)
        with self._lock:
            self.in_flight -= 1
        return "done" if released else "timed out"

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.acquire, timeout=10)


@pytest.fixture
async def pool() -> AsyncIterator[HashingPool]:
    instance = HashingPool(max_concurrency=2, max_waiting=8)
    yield instance
    instance.close()


async def test_pool_bounds_concurrency(pool: HashingPool) -> None:
    work = GatedWork()
    tasks = [asyncio.create_task(pool.run(work)) for _ in range(10)]

    await work.wait_entered()
    await work.wait_entered()
    assert pool.admitted == 10
    for _ in range(8):  # let one finish at a time; each time exactly one waiter may start
        work.gate.release()
        await work.wait_entered()
    work.gate.release()
    work.gate.release()

    assert await asyncio.gather(*tasks) == ["done"] * 10
    assert work.peak == 2
    assert pool.admitted == 0


async def test_pool_refuses_beyond_its_queue_with_a_503() -> None:
    pool = HashingPool(max_concurrency=1, max_waiting=2, retry_after=3)
    work = GatedWork()
    tasks = [asyncio.create_task(pool.run(work)) for _ in range(3)]
    await work.wait_entered()

    with pytest.raises(PasswordHasherBusyError) as raised:
        await pool.run(work)
    error = raised.value
    assert isinstance(error, ExternalServiceError)
    assert error.status == 503
    assert error.code == "PASSWORD_HASHER_BUSY"
    assert error.headers() == {"Retry-After": "3"}

    for _ in range(3):
        work.gate.release()
    assert await asyncio.gather(*tasks) == ["done"] * 3
    work.gate.release()
    assert await pool.run(work) == "done", "capacity is back once the burst has passed"
    pool.close()


async def test_hasher_sheds_load_through_its_pool() -> None:
    pool = HashingPool(max_concurrency=1, max_waiting=0)
    hasher = weak_hasher(pool)
    work = GatedWork()
    blocker = asyncio.create_task(pool.run(work))
    await work.wait_entered()

    with pytest.raises(PasswordHasherBusyError):
        await hasher.hash(SECRET)
    with pytest.raises(PasswordHasherBusyError):
        await verify_or_dummy(hasher, SECRET, None)

    work.gate.release()
    assert await blocker == "done"
    assert (await hasher.verify(SECRET, await hasher.hash(SECRET))).valid
    hasher.close()


async def test_hashing_runs_off_the_event_loop_thread() -> None:
    pool = HashingPool(max_concurrency=1)
    try:
        thread_name = await pool.run(lambda: threading.current_thread().name)
    finally:
        pool.close()

    assert thread_name.startswith("tiered-password-hash")
    assert thread_name != threading.current_thread().name


@pytest.mark.parametrize(
    ("max_concurrency", "max_waiting"), [(0, 1), (1, -1)], ids=["no-threads", "negative-queue"]
)
def test_pool_rejects_nonsense_bounds(max_concurrency: int, max_waiting: int) -> None:
    with pytest.raises(ConfigurationError):
        HashingPool(max_concurrency=max_concurrency, max_waiting=max_waiting)
