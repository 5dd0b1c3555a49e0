"""Circuit-breaker state in Redis, shared by every process: one Lua script per step.

Each step (admit, record, release, inspect) reads the breaker's hash,
decides and writes in one script, so two processes can never both take the
half-open probe, nor both open the circuit, nor lose a count. Time is the
Redis server's (``TIME``), the one clock every process shares, unless a
clock is injected (tests), as the rate limiter's script does.

The hash holds ``state``, ``gen`` (the generation), ``opened`` (µs), the
probe ``lease`` and its end (``until``), and one counter per window bucket
(``c<bucket>`` calls, ``f<bucket>`` failures). A closed breaker's hash
expires after two idle windows (an expired one reads as closed and empty,
which it was); an open or half-open one is kept until it closes, so a quiet
dependency still gets its single probe.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from tiered.clock import Clock
from tiered.resilience.breaker_memory import microseconds
from tiered.resilience.breaker_state import (
    Admission,
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    Transition,
    Verdict,
)
from tiered.store import redis_errors_as_cache_errors

__all__ = ["BREAKER_SCRIPT", "TIME_ORIGIN", "RedisBreakerBackend"]

TIME_ORIGIN = 1_735_689_600
"""2025-01-01T00:00Z: times are µs since then, so they stay exact in Lua's doubles."""

BREAKER_SCRIPT = f"""
local key, op = KEYS[1], ARGV[1]
local now
if ARGV[2] == "" then
  local time = redis.call("TIME")
  now = (tonumber(time[1]) - {TIME_ORIGIN}) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[2])
end
local window, buckets = tonumber(ARGV[3]), tonumber(ARGV[4])
local minimum, rate = tonumber(ARGV[5]), tonumber(ARGV[6])
local recovery, lease_time = tonumber(ARGV[7]), tonumber(ARGV[8])
local token, expected, failed = ARGV[9], tonumber(ARGV[10]), ARGV[11] == "1"
local stored = redis.call("HMGET", key, "state", "gen", "opened", "lease", "until")
local state = stored[1] or "closed"
local gen = tonumber(stored[2]) or 0
local opened = tonumber(stored[3]) or 0
local lease = stored[4] or ""
local lease_until = tonumber(stored[5]) or 0
local idle_ms = math.ceil(window / 1000) * 2

local function move(target)
  local source = state
  gen, state = gen + 1, target
  redis.call("DEL", key)
  if target == "open" then
    redis.call("HSET", key, "state", target, "gen", gen, "opened", now)
  else
    redis.call("HSET", key, "state", target, "gen", gen)
  end
  if target == "closed" then redis.call("PEXPIRE", key, idle_ms) end
  return source .. ">" .. target
end

local function counts(current)
  local calls, failures = 0, 0
  local fields = redis.call("HGETALL", key)
  for i = 1, #fields, 2 do
    local kind = string.sub(fields[i], 1, 1)
    if kind == "c" or kind == "f" then
      if tonumber(string.sub(fields[i], 2)) <= current - buckets then
        redis.call("HDEL", key, fields[i])
      elseif kind == "c" then
        calls = calls + tonumber(fields[i + 1])
      else
        failures = failures + tonumber(fields[i + 1])
      end
    end
  end
  return calls, failures
end

local current = math.floor(now / (window / buckets))
if op == "acquire" then
  local transition = ""
  if state == "open" then
    if now < opened + recovery then
      return {{"reject", state, gen, tostring(opened + recovery - now), "", ""}}
    end
    transition = move("half_open")
    lease, lease_until = "", 0
  end
  if state == "half_open" then
    if lease ~= "" and lease_until > now then
      return {{"reject", state, gen, tostring(lease_until - now), "", transition}}
    end
    redis.call("HSET", key, "lease", token, "until", now + lease_time)
    return {{"probe", state, gen, "0", token, transition}}
  end
  return {{"call", state, gen, "0", "", ""}}
elseif op == "record" then
  if gen ~= expected then return {{state, ""}} end
  if state == "half_open" then
    if token == "" or lease ~= token then return {{state, ""}} end
    local transition = move(failed and "open" or "closed")
    return {{state, transition}}
  end
  if state ~= "closed" then return {{state, ""}} end
  redis.call("HINCRBY", key, "c" .. current, 1)
  if failed then redis.call("HINCRBY", key, "f" .. current, 1) end
  local calls, failures = counts(current)
  if failed and calls >= minimum and failures >= rate * calls then
    return {{"open", move("open")}}
  end
  redis.call("PEXPIRE", key, idle_ms)
  return {{state, ""}}
elseif op == "release" then
  if gen == expected and token ~= "" and lease == token then
    redis.call("HDEL", key, "lease", "until")
  end
  return {{state, ""}}
end
if state == "open" then
  return {{state, gen, 0, 0, tostring(math.max(0, opened + recovery - now))}}
elseif state == "half_open" then
  return {{state, gen, 0, 0, "0"}}
end
local calls, failures = counts(current)
return {{state, gen, calls, failures, "0"}}
"""
"""KEYS: the breaker's hash. ARGV: op (acquire, record, release, snapshot), now (µs since
``TIME_ORIGIN``, or "" for the server's clock), window, buckets, minimum calls, failure
rate, recovery time, probe lease (times in µs), lease token, expected generation, failed."""


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _transition(value: bytes | str) -> Transition | None:
    text = _text(value)
    if not text:
        return None
    source, target = text.split(">")
    return Transition(BreakerState(source), BreakerState(target))


class RedisBreakerBackend:
    """Breakers shared through one Redis; ``prefix`` namespaces their keys.

    ``clock`` is for tests only: with one, the script uses its time instead of
    the server's, so a test (or several processes in one) can move time.
    """

    def __init__(self, client: Redis, *, prefix: str = "breaker:", clock: Clock | None = None):
        self.prefix = prefix
        self._client = client
        self._script = client.register_script(BREAKER_SCRIPT)
        self._clock = clock

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _now(self) -> str:
        if self._clock is None:
            return ""
        return str(round((self._clock.now().timestamp() - TIME_ORIGIN) * 1e6))

    async def _run(
        self,
        operation: str,
        name: str,
        policy: BreakerPolicy | None,
        *,
        lease: str = "",
        generation: int = -1,
        failed: bool = False,
    ) -> Sequence[bytes | str | int]:
        policy = policy or BreakerPolicy()
        args: list[str | int] = [
            operation,
            self._now(),
            microseconds(policy.window),
            policy.buckets,
            policy.minimum_calls,
            repr(policy.failure_rate),
            microseconds(policy.recovery_time),
            microseconds(policy.probe_lease),
            lease,
            generation,
            "1" if failed else "0",
        ]
        with redis_errors_as_cache_errors(f"circuit breaker {operation}"):
            reply: Sequence[bytes | str | int] = await self._script(
                keys=[self.key(name)], args=args
            )
        return reply

    async def acquire(self, name: str, policy: BreakerPolicy, lease: str) -> Admission:
        verdict, state, generation, wait, token, moved = await self._run(
            "acquire", name, policy, lease=lease
        )
        return Admission(
            Verdict(_text(verdict)),
            BreakerState(_text(state)),
            int(generation),
            float(_text(wait)) / 1e6,
            _text(token),
            _transition(moved),  # type: ignore[arg-type]
        )

    async def record(
        self, name: str, policy: BreakerPolicy, admission: Admission, *, failed: bool
    ) -> tuple[BreakerState, Transition | None]:
        state, moved = await self._run(
            "record",
            name,
            policy,
            lease=admission.lease,
            generation=admission.generation,
            failed=failed,
        )
        return BreakerState(_text(state)), _transition(moved)  # type: ignore[arg-type]

    async def release(self, name: str, admission: Admission) -> None:
        await self._run(
            "release", name, None, lease=admission.lease, generation=admission.generation
        )

    async def snapshot(self, name: str, policy: BreakerPolicy) -> BreakerSnapshot:
        state, generation, calls, failures, wait = await self._run("snapshot", name, policy)
        return BreakerSnapshot(
            BreakerState(_text(state)),
            int(generation),
            int(calls),
            int(failures),
            float(_text(wait)) / 1e6,
        )

    async def reset(self, name: str) -> None:
        with redis_errors_as_cache_errors("circuit breaker reset"):
            await self._client.delete(self.key(name))
