"""Circuit-breaker state in this process's memory.

Each step runs without awaiting, so it is atomic on the event loop. Times are
whole microseconds of the clock's monotonic time, the unit the Redis backend
counts in, so both backends bucket and compare alike (the contract suite
holds them to the same answers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tiered.clock import Clock, SystemClock
from tiered.resilience.breaker_state import (
    Admission,
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    Transition,
    Verdict,
)

__all__ = ["MemoryBreakerBackend", "microseconds"]

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def microseconds(seconds: float) -> int:
    return round(seconds * 1_000_000)


@dataclass
class _Circuit:
    state: BreakerState = CLOSED
    generation: int = 0
    opened_at: int = 0
    lease: str = ""
    lease_until: int = 0
    buckets: dict[int, list[int]] = field(default_factory=dict)
    """Bucket number → [calls, failures]."""

    def move(self, target: BreakerState, now: int) -> Transition:
        transition = Transition(self.state, target)
        self.state = target
        self.generation += 1
        self.opened_at = now if target is OPEN else 0
        self.lease, self.lease_until = "", 0
        self.buckets.clear()
        return transition

    def window(self, now: int, policy: BreakerPolicy) -> tuple[int, int, int]:
        """The current bucket number, and the calls and failures of the window."""
        width = microseconds(policy.window) / policy.buckets
        current = math.floor(now / width)
        live = {
            number: counts
            for number, counts in self.buckets.items()
            if number > current - policy.buckets
        }
        self.buckets = live
        calls = sum(counts[0] for counts in live.values())
        failures = sum(counts[1] for counts in live.values())
        return current, calls, failures


class MemoryBreakerBackend:
    """The breakers of one process: enough for one server process, or for tests."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._circuits: dict[str, _Circuit] = {}

    def _now(self) -> int:
        return microseconds(self._clock.monotonic())

    def _circuit(self, name: str) -> _Circuit:
        circuit = self._circuits.get(name)
        if circuit is None:
            circuit = self._circuits[name] = _Circuit()
        return circuit

    async def acquire(self, name: str, policy: BreakerPolicy, lease: str) -> Admission:
        now, circuit = self._now(), self._circuit(name)
        transition = None
        if circuit.state is OPEN:
            reopens_at = circuit.opened_at + microseconds(policy.recovery_time)
            if now < reopens_at:
                return Admission(Verdict.REJECT, OPEN, circuit.generation, (reopens_at - now) / 1e6)
            transition = circuit.move(HALF_OPEN, now)
        if circuit.state is HALF_OPEN:
            if circuit.lease and circuit.lease_until > now:
                wait = (circuit.lease_until - now) / 1e6
                return Admission(
                    Verdict.REJECT, HALF_OPEN, circuit.generation, wait, "", transition
                )
            circuit.lease, circuit.lease_until = lease, now + microseconds(policy.probe_lease)
            return Admission(Verdict.PROBE, HALF_OPEN, circuit.generation, 0.0, lease, transition)
        return Admission(Verdict.CALL, CLOSED, circuit.generation)

    async def record(
        self, name: str, policy: BreakerPolicy, admission: Admission, *, failed: bool
    ) -> tuple[BreakerState, Transition | None]:
        now, circuit = self._now(), self._circuit(name)
        if circuit.generation != admission.generation:
            return circuit.state, None
        if circuit.state is HALF_OPEN:
            if not admission.lease or circuit.lease != admission.lease:
                return circuit.state, None
            transition = circuit.move(OPEN if failed else CLOSED, now)
            return circuit.state, transition
        if circuit.state is not CLOSED:
            return circuit.state, None
        current, _, _ = circuit.window(now, policy)
        counts = circuit.buckets.setdefault(current, [0, 0])
        counts[0] += 1
        counts[1] += int(failed)
        _, calls, failures = circuit.window(now, policy)
        if failed and policy.opens_at(calls, failures):
            return OPEN, circuit.move(OPEN, now)
        return CLOSED, None

    async def release(self, name: str, admission: Admission) -> None:
        circuit = self._circuit(name)
        lease = admission.lease
        if circuit.generation == admission.generation and lease and circuit.lease == lease:
            circuit.lease, circuit.lease_until = "", 0

    async def snapshot(self, name: str, policy: BreakerPolicy) -> BreakerSnapshot:
        now, circuit = self._now(), self._circuit(name)
        if circuit.state is OPEN:
            reopens_at = circuit.opened_at + microseconds(policy.recovery_time)
            wait = max(0, reopens_at - now) / 1e6
            return BreakerSnapshot(OPEN, circuit.generation, retry_after=wait)
        if circuit.state is HALF_OPEN:
            return BreakerSnapshot(HALF_OPEN, circuit.generation)
        _, calls, failures = circuit.window(now, policy)
        return BreakerSnapshot(CLOSED, circuit.generation, calls, failures)

    async def reset(self, name: str) -> None:
        self._circuits.pop(name, None)
