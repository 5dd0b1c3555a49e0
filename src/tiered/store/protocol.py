"""``Store``: small shared state that must change atomically.

Rate limits, cache tag versions, fill leases, circuit-breaker state and
deduplication marks are all a few bytes under a key, read and changed by many
requests at once. They need the same handful of operations, each atomic on
its own, so a limiter or a lease is written once against this protocol and
runs in one process (:class:`~tiered.store.MemoryStore`) or across many
(:class:`~tiered.store.RedisStore`).

The semantics every backend keeps (``tests/contract/store`` holds them to it):

- Keys are any ``str`` (NUL bytes and lone surrogates included); values are
  ``bytes`` of any length.
- ``ttl`` is in seconds, finite and above zero; ``None`` means the key never
  expires. ``set`` replaces the value *and* the expiry.
- ``increment`` creates a missing key as ``0`` before adding, and gives it
  ``ttl`` only then: later increments keep the first expiry, which is what a
  fixed window needs. Counters are signed 64-bit integers stored as ASCII
  digits; anything else under the key (or an overflow) is a ``ValueError``.
- ``namespace(name)`` is a view whose keys are prefixed with ``name:``;
  namespace names may not contain ``:``, so two views never share a key.
- A backend that cannot reach its server raises
  :class:`~tiered.errors.CacheError` (a 503), so callers can degrade.
"""

from __future__ import annotations

import math
import re
from typing import Protocol, Self

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "Store",
    "check_increment",
    "check_namespace",
    "check_ttl",
    "parse_counter",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_COUNTER = re.compile(rb"0|-?[1-9][0-9]{0,18}")


class Store(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value under ``key``, or ``None`` when it is absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``, replacing any value and expiry ``key`` had."""
        ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; whether it was stored."""
        ...

    async def increment(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        """Add ``by`` to the counter and return the new value; ``ttl`` applies on creation."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        ...

    async def expires_in(self, key: str) -> float | None:
        """Seconds until ``key`` expires: ``None`` when absent, ``math.inf`` when it never does."""
        ...

    def namespace(self, name: str) -> Self:
        """A view of this store whose keys all start with ``name:``."""
        ...


def check_ttl(ttl: float | None) -> float | None:
    """``ttl`` itself when it is a usable expiry; a ``ValueError`` otherwise."""
    if ttl is not None and not (ttl > 0 and math.isfinite(ttl)):
        raise ValueError(f"ttl must be a finite number of seconds above zero, not {ttl!r}")
    return ttl


def check_namespace(name: str) -> str:
    """``name`` as a key prefix (``name:``); names with ``:`` could collide, so they are refused."""
    if not name or ":" in name:
        raise ValueError(f"a namespace is a non-empty name without ':', not {name!r}")
    return f"{name}:"


def check_increment(by: int) -> int:
    if not INT64_MIN <= by <= INT64_MAX:
        raise ValueError(f"an increment must fit in a signed 64-bit integer, not {by}")
    return by


def parse_counter(value: bytes) -> int:
    """The counter stored as ``value``, read as strictly as Redis reads one."""
    if _COUNTER.fullmatch(value) is None or not INT64_MIN <= (number := int(value)) <= INT64_MAX:
        raise ValueError("the value under this key is not a 64-bit integer")
    return number
