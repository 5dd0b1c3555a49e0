"""Password hashing: argon2id, off the event loop, with bounded memory.

Argon2 is deliberately expensive (about 19 MiB and tens of milliseconds per
call at the OWASP minimum), so three things matter beyond picking the
algorithm: the work runs in threads so the event loop keeps serving; only a
few hashes run at once and only a few more may wait, so a burst of logins
queues and then sheds load with a 503 instead of exhausting memory; and a
login for an unknown account does the same work as one for a known account,
so response times do not reveal which emails are registered.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from tiered.errors import (
    ConfigurationError,
    ExternalServiceError,
    InvalidInputError,
    ProcessingError,
)

__all__ = [
    "MAX_PASSWORD_BYTES",
    "OWASP_MEMORY_COST",
    "OWASP_PARALLELISM",
    "OWASP_TIME_COST",
    "Argon2PasswordHasher",
    "HashingPool",
    "PasswordHasher",
    "PasswordHasherBusyError",
    "VerifyResult",
    "verify_or_dummy",
]

OWASP_MEMORY_COST = 19_456
"""KiB (19 MiB): the OWASP minimum for argon2id with ``t=2, p=1``."""
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1
MAX_PASSWORD_BYTES = 1024
"""Longer passwords are refused before hashing, so one request cannot buy unbounded CPU."""

_SALT_BYTES = 16
_TAG_BYTES = 32

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking a password.

    ``new_hash`` is set only when the password matched *and* the stored hash was
    made with other parameters than the current ones: store it, and the account
    is upgraded at its owner's next login without anyone being asked anything.
    """

    valid: bool
    new_hash: str | None = None


class PasswordHasher(Protocol):
    """What services need from a password hasher; fakes in tests implement the same."""

    @property
    def dummy_hash(self) -> str:
        """A hash made with the current parameters that no password matches."""
        ...

    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, hashed: str) -> VerifyResult: ...


async def verify_or_dummy(
    hasher: PasswordHasher, password: str, hashed: str | None
) -> VerifyResult:
    """Verify ``password`` against ``hashed``, or, when there is no account, do the same work.

    Pass ``None`` when the email matched no account: the password is then
    verified against the hasher's dummy hash and the result is always invalid,
    so a login for an unknown email costs one verification exactly like a wrong
    password for a known one.
    """
    if hashed is not None:
        return await hasher.verify(password, hashed)
    await hasher.verify(password, hasher.dummy_hash)
    return VerifyResult(valid=False)


class PasswordHasherBusyError(ExternalServiceError):
    """Too many passwords are already being hashed or waiting: a server capacity problem."""

    code = "PASSWORD_HASHER_BUSY"
    default_retry_after = 1


class HashingPool:
    """Runs blocking hash calls in a few threads, with a bounded queue in front.

    ``max_concurrency`` threads hash at once (each argon2 call holds its memory
    cost for its whole duration, and argon2-cffi releases the GIL, so threads
    really run in parallel); up to ``max_waiting`` more callers wait their
    turn; beyond that a call fails at once with :class:`PasswordHasherBusyError`
    (503 with ``Retry-After``) instead of piling up. The default of two threads
    is per process: a server usually runs one process per core, so two already
    keep the cores busy during a burst while bounding memory to twice the cost.
    """

    def __init__(
        self, *, max_concurrency: int = 2, max_waiting: int = 32, retry_after: int = 1
    ) -> None:
        if max_concurrency < 1 or max_waiting < 0:
            raise ConfigurationError(
                "A hashing pool needs max_concurrency >= 1 and max_waiting >= 0."
            )
        self.max_concurrency = max_concurrency
        self.max_waiting = max_waiting
        self._retry_after = retry_after
        self._slots = asyncio.Semaphore(max_concurrency)
        self._admitted = 0
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="tiered-password-hash"
        )

    @property
    def admitted(self) -> int:
        """Callers currently hashing or waiting to."""
        return self._admitted

    async def run(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` in a hashing thread once a slot is free."""
        if self._admitted >= self.max_concurrency + self.max_waiting:
            raise PasswordHasherBusyError(
                "Too many passwords are being checked right now; try again shortly.",
                retry_after=self._retry_after,
            )
        self._admitted += 1
        try:
            async with self._slots:
                return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._admitted -= 1

    def close(self) -> None:
        """Stop the threads once the work already started has finished."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return (
            f"HashingPool(max_concurrency={self.max_concurrency}, "
            f"max_waiting={self.max_waiting}, admitted={self._admitted})"
        )


def _encode(password: str) -> bytes:
    """The bytes that are hashed: NFKC-normalised UTF-8, at most ``MAX_PASSWORD_BYTES``.

    Normalising (as NIST SP 800-63B advises) makes a password typed with a
    composed ``é`` match the same password typed with ``e`` and a combining
    accent. The length is checked before the (linear) normalisation as well as
    after it, so an enormous input is refused without being processed.
    """
    if len(password) <= MAX_PASSWORD_BYTES:
        encoded = unicodedata.normalize("NFKC", password).encode("utf-8")
        if len(encoded) <= MAX_PASSWORD_BYTES:
            return encoded
    raise InvalidInputError(
        f"A password may be at most {MAX_PASSWORD_BYTES} bytes long (UTF-8).",
        code="PASSWORD_TOO_LONG",
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


class Argon2PasswordHasher:
    """argon2id through pwdlib, run in a :class:`HashingPool`.

    The parameters default to the OWASP minimum (m=19 MiB, t=2, p=1). Weaker
    ones raise :class:`ConfigurationError` unless ``allow_weak_for_tests=True``:
    tests may hash in microseconds, production cannot get there by accident.
    Share one instance (and so one pool) per process; :meth:`close` it on
    shutdown.
    """

    def __init__(
        self,
        *,
        memory_cost: int = OWASP_MEMORY_COST,
        time_cost: int = OWASP_TIME_COST,
        parallelism: int = OWASP_PARALLELISM,
        pool: HashingPool | None = None,
        allow_weak_for_tests: bool = False,
    ) -> None:
        weak = (
            memory_cost < OWASP_MEMORY_COST
            or time_cost < OWASP_TIME_COST
            or parallelism < OWASP_PARALLELISM
        )
        if weak and not allow_weak_for_tests:
            raise ConfigurationError(
                f"argon2id parameters m={memory_cost}, t={time_cost}, p={parallelism} are "
                f"below the OWASP minimum m={OWASP_MEMORY_COST}, t={OWASP_TIME_COST}, "
                f"p={OWASP_PARALLELISM}."
            )
        self.memory_cost = memory_cost
        self.time_cost = time_cost
        self.parallelism = parallelism
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=time_cost,
                    memory_cost=memory_cost,
                    parallelism=parallelism,
                    hash_len=_TAG_BYTES,
                    salt_len=_SALT_BYTES,
                ),
            )
        )
        self._pool = pool if pool is not None else HashingPool()
        self._dummy_hash = (
            f"$argon2id$v=19$m={memory_cost},t={time_cost},p={parallelism}"
            f"${_b64(secrets.token_bytes(_SALT_BYTES))}${_b64(secrets.token_bytes(_TAG_BYTES))}"
        )

    @property
    def dummy_hash(self) -> str:
        """A well-formed hash with the current parameters and a random tag.

        Verifying against it costs a full argon2 computation, yet no password
        can match it; building it costs nothing, since no hashing is needed.
        """
        return self._dummy_hash

    async def hash(self, password: str) -> str:
        encoded = _encode(password)
        return await self._pool.run(lambda: self._hash.hash(encoded))

    async def verify(self, password: str, hashed: str) -> VerifyResult:
        encoded = _encode(password)
        try:
            valid, new_hash = await self._pool.run(
                lambda: self._hash.verify_and_update(encoded, hashed)
            )
        except UnknownHashError:
            raise ProcessingError("A stored password hash is in an unknown format.") from None
        return VerifyResult(valid=valid, new_hash=new_hash if valid else None)

    def close(self) -> None:
        """Release the pool's threads."""
        self._pool.close()

    def __repr__(self) -> str:
        return (
            f"Argon2PasswordHasher(memory_cost={self.memory_cost}, "
            f"time_cost={self.time_cost}, parallelism={self.parallelism})"
        )
