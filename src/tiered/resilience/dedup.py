"""``Deduplicator``: do a thing once per key per cooldown, across every process.

"Notify each holder once", "send at most one reset email a minute", "ignore
the webhook's redelivery": each is a mark under a key that only the first
caller manages to set. The mark is one atomic ``set_if_absent`` with the
cooldown as its expiry on a :class:`~tiered.store.Store` (``SET NX PX`` on
Redis), so two processes racing on the same key get one fresh answer and
one duplicate, and the mark cleans itself up when the cooldown ends.

A store that cannot be reached raises :class:`~tiered.errors.CacheError`;
whether to go ahead anyway (and maybe repeat) or to skip (and maybe lose)
is the caller's decision, not one a library can make for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from tiered.clock import Clock, SystemClock
from tiered.store import Store

__all__ = ["DedupResult", "Deduplicator"]

_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class DedupResult:
    """The answer for one key.

    ``duplicate`` is true when the key was already seen within its cooldown.
    ``first_seen_at`` is when the current mark was set: now, for a fresh key.
    ``retry_after`` is the number of seconds until the same key counts as
    fresh again: the whole cooldown for a fresh key.
    """

    key: str
    duplicate: bool
    first_seen_at: datetime
    retry_after: float

    @property
    def fresh(self) -> bool:
        return not self.duplicate


class Deduplicator:
    """Marks keys as seen on ``store`` (under its own namespace) for a cooldown each."""

    def __init__(self, store: Store, *, namespace: str = "dedup", clock: Clock | None = None):
        self.store = store.namespace(namespace)
        self._clock = clock or SystemClock()

    async def check(self, key: str, cooldown: float | timedelta) -> DedupResult:
        """Mark ``key`` as seen for ``cooldown``, unless it already is: say which it was."""
        seconds = cooldown.total_seconds() if isinstance(cooldown, timedelta) else float(cooldown)
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"a cooldown is a positive number of seconds, not {cooldown!r}")
        for _ in range(_ATTEMPTS):
            now = self._clock.now()
            if await self.store.set_if_absent(key, now.isoformat().encode(), ttl=seconds):
                return DedupResult(key, duplicate=False, first_seen_at=now, retry_after=seconds)
            stored = await self.store.get(key)
            remaining = await self.store.expires_in(key)
            if stored is not None and remaining is not None:
                return DedupResult(
                    key,
                    duplicate=True,
                    first_seen_at=_first_seen(stored, now, seconds, remaining),
                    retry_after=max(0.0, remaining),
                )
            # The mark expired between the two steps: try to set it again.
        raise RuntimeError(f"the dedup mark of {key!r} kept expiring while it was read")

    async def forget(self, key: str) -> bool:
        """Remove ``key``'s mark (the action it guarded failed and may be tried again)."""
        return await self.store.delete(key)


def _first_seen(stored: bytes, now: datetime, cooldown: float, remaining: float) -> datetime:
    try:
        return datetime.fromisoformat(stored.decode())
    except (UnicodeDecodeError, ValueError):
        elapsed = cooldown - remaining if math.isfinite(remaining) else 0.0
        return now - timedelta(seconds=max(0.0, elapsed))
