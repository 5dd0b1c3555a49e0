"""How long a failed job waits before its next try: exponential, capped, jittered.

Jitter spreads the retries of jobs that failed together (a dependency went
down for all of them) so they do not all come back at the same instant. The
randomness is a parameter, so a test can fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from tiered.errors import ConfigurationError

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Before try ``n + 1``: ``base * factor ** (n - 1)`` seconds, at most ``cap``.

    With ``jitter`` the wait is drawn uniformly from the upper half of that
    interval ("equal jitter"): retries spread out, yet never come sooner than
    half the nominal wait.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 600.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.cap < self.base:
            raise ConfigurationError(
                f"Backoff(base={self.base}, factor={self.factor}, cap={self.cap}) needs "
                "base >= 0, factor >= 1 and cap >= base"
            )

    def nominal(self, failed_attempts: int) -> float:
        """The wait after ``failed_attempts`` failures, before jitter."""
        try:
            grown = self.base * self.factor ** max(failed_attempts - 1, 0)
        except OverflowError:
            return self.cap
        return min(grown, self.cap)

    def delay(self, failed_attempts: int, random: Random) -> float:
        """Seconds to wait after ``failed_attempts`` failures."""
        wait = self.nominal(failed_attempts)
        if not self.jitter:
            return wait
        return wait / 2 + random.uniform(0, wait / 2)
