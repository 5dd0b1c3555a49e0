"""What a cache does when its backend fails: serve from the source, count, log a little.

After a failure the backend is left alone for ``retry_after`` seconds (by the
injected clock): a dead Redis then costs one timeout per interval, not one per
request. An exhausted connection pool is not an outage (the server is fine,
this process is busy): that call is served from the source, and the next one
tries the backend again. Failures are logged at most once per ``log_interval``, with the
number left unlogged, so an outage does not flood the logs.
"""

from __future__ import annotations

from redis.exceptions import MaxConnectionsError

from tiered.clock import Clock
from tiered.errors import CacheError
from tiered.observability.logging import get_logger

__all__ = ["BackendOutage"]

_log = get_logger("tiered.cache")


class BackendOutage:
    def __init__(self, name: str, clock: Clock, *, retry_after: float, log_interval: float) -> None:
        self.name = name
        self._clock = clock
        self._retry_after = retry_after
        self._log_interval = log_interval
        self._down_until: float | None = None
        self._next_log = -float("inf")
        self._unlogged = 0

    @property
    def down(self) -> bool:
        """Whether the backend failed less than ``retry_after`` seconds ago."""
        return self._down_until is not None and self._clock.monotonic() < self._down_until

    def failed(self, operation: str, error: CacheError) -> None:
        now = self._clock.monotonic()
        if not isinstance(error.__cause__, MaxConnectionsError):
            self._down_until = now + self._retry_after
        if now < self._next_log:
            self._unlogged += 1
            return
        _log.warning(
            "cache_unavailable",
            cache=self.name,
            operation=operation,
            error=_describe(error.__cause__ or error),
            unlogged_failures=self._unlogged,
        )
        self._next_log = now + self._log_interval
        self._unlogged = 0

    def succeeded(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            _log.info("cache_recovered", cache=self.name)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
