"""A private broker queue and real ``markets worker --backend celery`` processes, for tests.

Each test gets a queue of its own on the shared Redis (db 15, every broker key
under a prefix of its own) or RabbitMQ, removed afterwards. Workers run in a
session of their own, so that a SIGKILL reaches the pool's children too;
every one is stopped (or killed) before the test ends.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from kombu import Connection
from redis import Redis

from tiered.testing import ChildProcess
from tiered.testing import wait_until as wait_for_processes

__all__ = ["Broker", "start_markets_worker", "wait_until"]

WAIT_SECONDS = 90.0


@dataclass
class Broker:
    kind: str
    url: str
    queue: str = field(default_factory=lambda: f"markets-test-{uuid.uuid4().hex[:10]}")

    @property
    def key_prefix(self) -> str | None:
        return f"{self.queue}:" if self.kind == "redis" else None

    def environment(self) -> dict[str, str]:
        """The ``MARKETS_*`` variables that put a process on this queue."""
        env = {
            "MARKETS_JOBS_BACKEND": "celery",
            "MARKETS_JOBS_BROKER_URL": self.url,
            "MARKETS_JOBS_QUEUE": self.queue,
        }
        if self.key_prefix is not None:
            env["MARKETS_JOBS_BROKER_KEY_PREFIX"] = self.key_prefix
        return env

    def remove(self) -> None:
        if self.kind == "redis":
            with Redis.from_url(self.url) as client:
                keys = list(client.scan_iter(match=f"{self.key_prefix}*", count=500))
                if keys:
                    client.delete(*keys)
            return
        with Connection(self.url) as connection:
            channel = connection.default_channel
            channel.queue_delete(self.queue)
            channel.exchange_delete(self.queue)


async def start_markets_worker(
    workdir: Path, environment: dict[str, str], name: str
) -> ChildProcess:
    """``python -m markets worker --backend celery`` with ``environment`` added."""
    return await ChildProcess.start(
        sys.executable,
        "-m",
        "markets",
        "worker",
        "--backend",
        "celery",
        "--pool",
        "prefork",
        "--concurrency",
        "1",
        log=workdir / f"{name}.log",
        cwd=workdir,
        env={**os.environ, **environment},
    )


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    workers: list[ChildProcess],
    within: float = WAIT_SECONDS,
) -> None:
    """Poll ``check`` until it holds; fail with the workers' logs after ``within`` seconds."""
    await wait_for_processes(check, what, workers, within)
