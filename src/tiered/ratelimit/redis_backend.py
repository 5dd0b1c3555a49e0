"""Rate-limit state in Redis, shared by every process: one ``EVALSHA`` per request.

The script reads, decides and writes all the quotas of a request in one
atomic step, so N processes behind a load balancer admit exactly one quota's
worth between them, with one round trip and no get-then-set race. It takes the
time from the Redis server (``TIME``), the one clock all processes share, and
returns what the response headers need, so no second command is sent.

Redis 5 or newer: scripts are replicated by their effects there, so a script
may read ``TIME`` before it writes. Each key expires when its allowance is
full again, so an idle client costs nothing. The keys of one client share a
hash tag (``{client}``), so on a Redis Cluster they are in one slot. A server
that lost the script (restart, ``SCRIPT FLUSH``) answers ``NOSCRIPT``; the
script is then loaded again and the call repeated.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from tiered.clock import Clock
from tiered.ratelimit.decision import Decision, Outcome, QuotaSet, QuotaState
from tiered.ratelimit.pipelined_script import PipelinedScript

__all__ = ["GCRA_SCRIPT", "TIME_ORIGIN", "RedisRateLimitBackend"]

TIME_ORIGIN = 1_735_689_600
"""2025-01-01T00:00Z: times are µs since then, so they stay exact in Lua's doubles."""

GCRA_SCRIPT = f"""
local now
if ARGV[1] == "" then
  local time = redis.call("TIME")
  now = (tonumber(time[1]) - {TIME_ORIGIN}) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[1])
end
local epsilon = 1
local tats, intervals, windows = {{}}, {{}}, {{}}
local allowed = 1
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i + 1])
  local interval = window / tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call("GET", KEYS[i])) or now
  if tat < now then tat = now end
  tats[i], intervals[i], windows[i] = tat, interval, window
  if tat + interval - window > now + epsilon then allowed = 0 end
end
local reply = {{allowed}}
for i = 1, #KEYS do
  local tat, interval, window = tats[i], intervals[i], windows[i]
  local retry = 0
  if allowed == 1 then
    tat = tat + interval
    redis.call("SET", KEYS[i], string.format("%.17g", tat), "PX", math.ceil((tat - now) / 1000))
  elseif tat + interval - window > now + epsilon then
    retry = tat + interval - window - now
  end
  local remaining = math.floor((window - (tat - now) + epsilon) / interval)
  if remaining < 0 then remaining = 0 end
  if remaining > tonumber(ARGV[2 * i]) then remaining = tonumber(ARGV[2 * i]) end
  reply[3 * i - 1] = remaining
  reply[3 * i] = math.ceil(retry)
  reply[3 * i + 1] = math.ceil(tat - now)
end
return reply
"""
"""KEYS: one per quota. ARGV[1]: now in µs since ``TIME_ORIGIN``, or "" for the server's
clock; then each quota's limit and window in µs. Reply: admitted (1/0), then per quota
remaining, retry-after and reset-after (µs, rounded up)."""


class RedisRateLimitBackend:
    """GCRA in one Lua script, pipelined on a connection of its own (see ``pipelined_script``).

    ``client`` says how to reach Redis. ``prefix`` namespaces the keys (one
    application's limits are not another's). ``timeout`` bounds each call.
    ``clock`` is for tests only: given one, the script uses its time instead of
    the server's, so a test can move time forward; in production leave it
    unset, and every process reads the one Redis clock. :meth:`aclose` closes
    the connection.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "ratelimit:",
        clock: Clock | None = None,
        timeout: float = 1.0,
    ):
        self.prefix = prefix.replace("{", "").replace("}", "")
        self._script = PipelinedScript(client, GCRA_SCRIPT, timeout=timeout)
        self._clock = clock

    async def aclose(self) -> None:
        await self._script.aclose()

    @property
    def script_sha(self) -> str:
        """The SHA1 the script is called by (``EVALSHA``)."""
        return str(self._script.sha)

    def keys_for(self, key: str, quotas: QuotaSet) -> list[str]:
        return [f"{self.prefix}{{{key}}}:{quota.name}" for quota in quotas.quotas]

    def _now(self) -> str:
        if self._clock is None:
            return ""
        return repr((self._clock.now().timestamp() - TIME_ORIGIN) * 1e6)

    async def check(self, key: str, quotas: QuotaSet) -> Decision:
        args: list[str | int] = [self._now()]
        for quota in quotas.quotas:
            args += (quota.limit, quota.window_us)
        reply: Sequence[int] = await self._script(self.keys_for(key, quotas), args)
        states = tuple(
            QuotaState(
                quota,
                int(reply[3 * index + 1]),
                int(reply[3 * index + 2]) / 1e6,
                int(reply[3 * index + 3]) / 1e6,
            )
            for index, quota in enumerate(quotas.quotas)
        )
        outcome = Outcome.ALLOWED if int(reply[0]) == 1 else Outcome.LIMITED
        return Decision(outcome, quotas, states)
