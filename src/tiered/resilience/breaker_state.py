"""The circuit breaker's state machine: its policy, its answers, and the backend protocol.

closed → open when, over the last ``window`` seconds, at least
``minimum_calls`` calls were recorded and at least ``failure_rate`` of them
failed; open → half-open once ``recovery_time`` has passed (on the next
call); half-open lets exactly one call through, the probe, under a lease of
``probe_lease`` seconds; the probe's success closes the circuit, its failure
opens it again. A rate with a minimum, rather than N failures in a row,
keeps one flaky call in a thousand from ever opening a busy circuit, while
a quiet one cannot open on two unlucky calls.

Every transition bumps a *generation*. A call remembers the generation it was
admitted under, and its result counts only if the circuit is still in that
generation: a slow call admitted while closed cannot re-open a circuit that
has since opened, recovered and closed. A probe whose lease expired (its
process died, or it outran the lease) is ignored the same way, through its
lease token.

Backends keep this state atomically: in one process's memory, or in Redis
where every process shares it (one Lua script per step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from tiered.errors.hierarchy import ConfigurationError

if TYPE_CHECKING:
    from tiered.settings import AppSettings

__all__ = [
    "Admission",
    "BreakerBackend",
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "Transition",
    "Verdict",
]

_MAX_BUCKETS = 120


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Verdict(StrEnum):
    """What the breaker says before a call."""

    CALL = "call"
    """Closed: go ahead, and record the outcome."""
    PROBE = "probe"
    """Half-open and this call holds the one probe lease."""
    REJECT = "reject"
    """Open, or half-open with the probe lease taken: do not call."""


@dataclass(frozen=True, slots=True)
class Transition:
    source: BreakerState
    target: BreakerState


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a circuit opens and how it recovers (times in seconds).

    The window is kept as ``buckets`` slices, so a call leaves the failure
    rate between ``window * (buckets - 1) / buckets`` and ``window`` seconds
    after it was recorded. ``probe_lease`` should exceed the longest a call
    may take (its timeout): a probe still running when its lease ends lets a
    second probe through.
    """

    failure_rate: float = 0.5
    minimum_calls: int = 10
    window: float = 60.0
    buckets: int = 10
    recovery_time: float = 30.0
    probe_lease: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate <= 1:
            raise ConfigurationError("a breaker's failure_rate must be in (0, 1]")
        if self.minimum_calls < 1:
            raise ConfigurationError("a breaker's minimum_calls must be at least 1")
        if not 1 <= self.buckets <= _MAX_BUCKETS:
            raise ConfigurationError(f"a breaker's buckets must be between 1 and {_MAX_BUCKETS}")
        for name in ("window", "recovery_time", "probe_lease"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigurationError(f"a breaker's {name} must be a positive number of seconds")

    @classmethod
    def from_settings(cls, settings: AppSettings) -> BreakerPolicy:
        """The ``breaker_*`` settings (``dataclasses.replace`` changes the rest)."""
        return cls(
            failure_rate=settings.breaker_failure_rate,
            minimum_calls=settings.breaker_minimum_calls,
            window=settings.breaker_window,
            recovery_time=settings.breaker_recovery_time,
        )

    def opens_at(self, calls: int, failures: int) -> bool:
        """Whether ``failures`` out of ``calls`` in the window open the circuit."""
        return calls >= self.minimum_calls and failures >= self.failure_rate * calls


@dataclass(frozen=True, slots=True)
class Admission:
    """The breaker's answer before a call; hand it back to ``record`` with the outcome."""

    verdict: Verdict
    state: BreakerState
    generation: int
    retry_after: float = 0.0
    """For a rejection: seconds until a call may be let through (to half-open, or lease end)."""
    lease: str = ""
    """For a probe: the token of its lease."""
    transition: Transition | None = None


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """The stored state of one breaker, for inspection (health pages, tests)."""

    state: BreakerState
    generation: int
    calls: int = 0
    """Calls recorded in the current window (closed state only)."""
    failures: int = 0
    retry_after: float = 0.0
    """Open: seconds until the next call is let through as a probe."""


class BreakerBackend(Protocol):
    """Where breakers keep their state; each method is one atomic step.

    ``name`` identifies the breaker: breakers of the same name on one backend
    (in any process, for a shared backend) are one circuit.
    """

    async def acquire(self, name: str, policy: BreakerPolicy, lease: str) -> Admission:
        """Admit a call, or not; moves open → half-open once the recovery time has passed.

        ``lease`` is a fresh token, stored as the probe lease if this call becomes the probe.
        """
        ...

    async def record(
        self, name: str, policy: BreakerPolicy, admission: Admission, *, failed: bool
    ) -> tuple[BreakerState, Transition | None]:
        """Count the outcome of an admitted call; the state after it, and any transition."""
        ...

    async def release(self, name: str, admission: Admission) -> None:
        """Give a probe's lease back without an outcome (the probe was cancelled)."""
        ...

    async def snapshot(self, name: str, policy: BreakerPolicy) -> BreakerSnapshot: ...

    async def reset(self, name: str) -> None:
        """Forget the breaker's state: it is closed with an empty window."""
        ...
