"""Rate-limit state in the process: a bounded LRU, for one process only.

An in-process limiter that never forgets a client is a memory leak a flood of
spoofed or distinct addresses turns into an outage. Here the state is at most
``max_keys`` entries (one per client and quota): past the bound the least
recently seen client is forgotten, which at worst gives that client a fresh
allowance. Entries whose allowance is full again carry no information: once a
second at most, the least recently seen end is swept of them, up to the first
entry still in use.

The LRU is a plain dict kept in recency order (each check takes its entries
out and puts them back at the end) rather than ``cachetools.LRUCache``: the
check runs on every request, and the library's four Python-level calls per
access cost more than the rest of the check.

Each check runs without awaiting, so it is atomic on the event loop. Every
process keeps its own state: with several processes, use the Redis backend.
"""

from __future__ import annotations

import time
from itertools import islice

from tiered.clock import Clock, SystemClock
from tiered.ratelimit.decision import Decision, Outcome, QuotaSet, QuotaState
from tiered.ratelimit.gcra import evaluate, evaluate_one

__all__ = ["DEFAULT_MAX_KEYS", "MemoryRateLimitBackend"]

DEFAULT_MAX_KEYS = 100_000
_ALLOWED = Outcome.ALLOWED
_LIMITED = Outcome.LIMITED
_SWEEP_EVERY_US = 1_000_000
_SWEEP_BATCH = 256


class MemoryRateLimitBackend:
    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS, clock: Clock | None = None) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        clock = clock or SystemClock()
        self._monotonic = time.monotonic if type(clock) is SystemClock else clock.monotonic
        self._states: dict[tuple[str, str], float] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        """Entries held (one per client and quota); never more than ``max_keys``."""
        return len(self._states)

    async def check(self, key: str, quotas: QuotaSet) -> Decision:
        return self.check_now(key, quotas)

    def check_now(self, key: str, quotas: QuotaSet) -> Decision:
        """:meth:`check` without a coroutine: the limiter calls this one directly."""
        now = self._monotonic() * 1e6
        states = self._states
        if len(quotas.quotas) == 1:
            quota = quotas.quotas[0]
            slot = (quota.name, key)
            stored = states.pop(slot, None)
            allowed, tat, state = evaluate_one(quota, stored, now)
            if allowed:
                states[slot] = tat
            elif stored is not None:
                states[slot] = stored
            result: tuple[QuotaState, ...] = (state,)
        else:
            slots = [(quota.name, key) for quota in quotas.quotas]
            stored_all = [states.pop(slot, None) for slot in slots]
            allowed, tats, result = evaluate(quotas, stored_all, now)
            for slot, kept in zip(slots, tats if allowed else stored_all, strict=True):
                if kept is not None:
                    states[slot] = kept
        if len(states) > self.max_keys:
            for slot in list(islice(states, len(states) - self.max_keys)):
                del states[slot]
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_EVERY_US
            self._sweep(now)
        return Decision(_ALLOWED if allowed else _LIMITED, quotas, result)

    def _sweep(self, now: float) -> None:
        """Drop the least recently seen entries whose allowance is full again."""
        states = self._states
        expired = []
        for slot in islice(states, _SWEEP_BATCH):
            if states[slot] > now:
                break
            expired.append(slot)
        for slot in expired:
            del states[slot]
