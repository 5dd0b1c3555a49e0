"""What a rate-limit check answers: allowed or not, and the state of each quota."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from math import ceil

from tiered.ratelimit.rates import Quota

__all__ = ["Decision", "Outcome", "QuotaSet", "QuotaState"]


class Outcome(StrEnum):
    ALLOWED = "allowed"
    LIMITED = "limited"
    FAILED_OPEN = "failed_open"
    """The store could not be asked; the request was let through."""
    FAILED_CLOSED = "failed_closed"
    """The store could not be asked; the request was refused."""


@dataclass(frozen=True, slots=True, eq=False)
class QuotaSet:
    """The quotas one request is checked against, with what never changes between requests.

    Built once per combination of policies, so the ``RateLimit-Policy`` header
    is rendered once, not on every response.
    """

    policies: frozenset[str]
    quotas: tuple[Quota, ...]
    policy_header: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        header = ", ".join(quota.policy_item for quota in self.quotas).encode("ascii")
        object.__setattr__(self, "policy_header", header)

    @classmethod
    def of(cls, policies: Iterable[str], quotas: Iterable[Quota]) -> QuotaSet:
        return cls(frozenset(policies), tuple(quotas))


@dataclass(slots=True)
class QuotaState:
    """One quota after a check; durations in seconds.

    ``remaining`` requests may follow at once; ``retry_after`` is how long
    until this quota admits the refused request (0 when it admitted it);
    ``reset_after`` is how long until the quota is full again. Not frozen:
    one is built per quota per request, and a frozen dataclass costs twice as
    much to build.
    """

    quota: Quota
    remaining: int
    retry_after: float
    reset_after: float

    def rate_limit_item(self) -> bytes:
        """This state as the ``RateLimit`` list member: ``"name";r=57;t=12``."""
        return f"{self.quota.state_prefix}{self.remaining};t={ceil(self.reset_after)}".encode()


@dataclass(slots=True)
class Decision:
    """The answer for one request: each quota admitted it, or it was refused.

    A refused request charges no quota, so a client that keeps retrying too
    early is not punished beyond the limit it already hit.
    """

    outcome: Outcome
    quotas: QuotaSet
    states: tuple[QuotaState, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED or self.outcome is Outcome.FAILED_OPEN

    @property
    def violated(self) -> tuple[str, ...]:
        """The names of the quotas that refused the request."""
        return tuple(state.quota.name for state in self.states if state.retry_after > 0)

    @property
    def retry_after(self) -> float:
        """Seconds until every quota admits the refused request (0 when it was admitted)."""
        return max((state.retry_after for state in self.states), default=0.0)

    @property
    def retry_after_header(self) -> int:
        """``Retry-After`` in whole seconds, rounded up: never before the quota admits it."""
        return max(1, ceil(self.retry_after))

    @property
    def tightest(self) -> QuotaState | None:
        """The quota closest to exhaustion: fewest requests left, then longest wait."""
        if len(self.states) == 1:
            return self.states[0]
        return min(
            self.states,
            key=lambda state: (state.remaining, -state.retry_after, -state.reset_after),
            default=None,
        )

    def header_values(self) -> list[tuple[bytes, bytes]]:
        """``RateLimit-Policy`` and, when the store answered, ``RateLimit``."""
        tightest = self.states[0] if len(self.states) == 1 else self.tightest
        if tightest is None:
            return [(b"ratelimit-policy", self.quotas.policy_header)]
        return [
            (b"ratelimit-policy", self.quotas.policy_header),
            (b"ratelimit", tightest.rate_limit_item()),
        ]
