"""A private broker queue and real ``markets worker --backend celery`` processes, for tests.

Each test gets a queue of its own on the shared Redis (db 15, every broker key
under a prefix of its own) or RabbitMQ, removed afterwards. Workers run in a
session of their own, so that a SIGKILL reaches the pool's children too;
every one is stopped (or killed) before the test ends.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from kombu import Connection
from redis import Redis

__all__ = ["Broker", "MarketsWorker", "wait_until"]

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


class MarketsWorker:
    """``python -m markets worker --backend celery`` with ``environment`` added."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.expected_exit = False

    @classmethod
    async def start(cls, workdir: Path, environment: dict[str, str], name: str) -> MarketsWorker:
        log = workdir / f"{name}.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
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
                cwd=workdir,
                env={**os.environ, **environment},
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.log.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def assert_alive(self) -> None:
        if self.process.returncode is not None and not self.expected_exit:
            raise AssertionError(f"a worker exited ({self.process.returncode})\n{self.tail()}")

    async def kill(self) -> None:
        """SIGKILL to the worker and its pool: no shutdown, no acknowledgement."""
        self.expected_exit = True
        os.killpg(self.process.pid, signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self, within: float = 30.0) -> int | None:
        """SIGTERM (Celery's warm shutdown); its exit status, ``None`` if it had to be killed."""
        if self.process.returncode is not None:
            return self.process.returncode
        self.expected_exit = True
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within):
                return await self.process.wait()
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()
            return None


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    workers: list[MarketsWorker],
    within: float = WAIT_SECONDS,
) -> None:
    """Poll ``check`` until it holds; fail with the workers' logs after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while not await check():
                for worker in workers:
                    worker.assert_alive()
                await asyncio.sleep(0.1)
    except TimeoutError:
        logs = "\n".join(worker.tail() for worker in workers)
        raise AssertionError(f"timed out waiting for {what}\n{logs}") from None
