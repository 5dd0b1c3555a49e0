"""What a variant asks of Redis per request, as the Redis server counts it.

The harness runs in the bench environment, which has no Redis client, and
needs only a few commands, so it speaks RESP over a socket itself. Counting
is done by the server, from ``INFO`` before and after a batch: network reads
(``total_reads_processed``: one per request a client sends and waits on, i.e.
one per round trip), ``EVALSHA`` calls, and every command run, those a Lua
script runs included. The counters are the whole server's: the bench's own
``INFO`` calls are measured on an idle window and taken off, and another
client's commands can only add, so the quietest of several windows is kept.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import unquote, urlsplit

__all__ = [
    "RedisClient",
    "RedisTraffic",
    "delete_keys",
    "measure_traffic",
    "redis_reachable",
    "redis_version",
]


class RedisError(RuntimeError):
    pass


Reply = str | int | list["Reply"] | None


class RedisClient:
    """One connection to the database ``url`` names; commands answered in turn."""

    def __init__(self, url: str, *, timeout: float = 3.0) -> None:
        parts = urlsplit(url)
        address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._socket = socket.create_connection(address, timeout=timeout)
        self._reader = self._socket.makefile("rb")
        try:
            if parts.password:
                user = [unquote(parts.username)] if parts.username else []
                self.command("AUTH", *user, unquote(parts.password))
            database = parts.path.strip("/")
            if database:
                self.command("SELECT", database)
        except BaseException:
            self.close()
            raise

    def command(self, *args: str) -> Reply:
        frames = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode()
            frames += [b"$%d\r\n" % len(data), data, b"\r\n"]
        self._socket.sendall(b"".join(frames))
        return self._reply()

    def _reply(self) -> Reply:
        line = self._reader.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._reader.read(size + 2)[:-2].decode()
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise RedisError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self._reader.close()
        self._socket.close()

    def __enter__(self) -> RedisClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def redis_reachable(url: str) -> bool:
    try:
        with RedisClient(url, timeout=2.0) as client:
            return client.command("PING") == "PONG"
    except (OSError, RedisError):
        return False


def redis_version(url: str) -> str:
    with RedisClient(url) as client:
        info = client.command("INFO", "server")
    for line in str(info).splitlines():
        if line.startswith("redis_version:"):
            return line.removeprefix("redis_version:")
    return "unknown"


def delete_keys(url: str, pattern: str) -> int:
    """Delete the keys matching ``pattern`` in ``url``'s database; how many there were."""
    deleted = 0
    with RedisClient(url) as client:
        cursor = "0"
        while True:
            reply = client.command("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            if not isinstance(reply, list) or not isinstance(reply[1], list):
                raise RedisError(f"unexpected SCAN reply {reply!r}")
            cursor, keys = str(reply[0]), [str(key) for key in reply[1]]
            if keys:
                removed = client.command("DEL", *keys)
                deleted += removed if isinstance(removed, int) else 0
            if cursor == "0":
                return deleted


@dataclass(frozen=True, slots=True)
class RedisTraffic:
    """Per request, over the quietest window of ``requests`` requests."""

    requests: int
    round_trips: float
    evalsha: float
    commands: float
    """Every command run, those a Lua script runs included."""


def _counters(client: RedisClient) -> tuple[int, int, int]:
    info = client.command("INFO", "all")
    if not isinstance(info, str):
        raise RedisError(f"unexpected INFO reply {info!r}")
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    evalsha = fields.get("cmdstat_evalsha", "calls=0").split(",")[0].removeprefix("calls=")
    return (
        int(fields["total_reads_processed"]),
        int(evalsha),
        int(fields["total_commands_processed"]),
    )


def _delta(before: tuple[int, int, int], after: tuple[int, int, int]) -> tuple[int, int, int]:
    reads, evalsha, commands = (a - b for a, b in zip(after, before, strict=True))
    return reads, evalsha, commands


def measure_traffic(
    url: str, send: Callable[[int], object], *, requests: int, windows: int = 3
) -> RedisTraffic:
    """Count what ``send(requests)`` asks of Redis, ``windows`` times; keep the quietest."""
    with RedisClient(url) as client:
        idle = []
        for _ in range(windows):
            before = _counters(client)
            idle.append(_delta(before, _counters(client)))
        own = min(idle)  # the bench's own INFO calls
        loaded = []
        for _ in range(windows):
            before = _counters(client)
            send(requests)
            loaded.append(_delta(before, _counters(client)))
    reads, evalsha, commands = (
        (value - overhead) / requests for value, overhead in zip(min(loaded), own, strict=True)
    )
    return RedisTraffic(requests, reads, evalsha, commands)
