"""Processes a test starts (workers, relays): each in a session of its own, logging to a file.

A kill -9 test must reach a worker's children too (a prefork pool), and a wait
that times out is only diagnosable with the processes' last lines. Every test
that runs real worker processes needs both, so they live here once.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["ChildProcess", "wait_until"]


class ChildProcess:
    """A started process; :meth:`stop` or :meth:`kill` it before the test ends."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.expected_exit = False

    @classmethod
    async def start(
        cls,
        *command: str,
        log: Path,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ChildProcess:
        """Run ``command`` in a new session, stdout and stderr to ``log``."""
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=None if env is None else dict(env),
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
            raise AssertionError(f"a process exited ({self.process.returncode})\n{self.tail()}")

    async def kill(self) -> None:
        """SIGKILL to the process and its children: no shutdown, no acknowledgement."""
        self.expected_exit = True
        os.killpg(self.process.pid, signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self, within: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``within`` seconds; the exit status, ``None`` if killed."""
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
    processes: Sequence[ChildProcess],
    within: float,
) -> None:
    """Poll ``check`` until it holds; fail at once if a process dies, or with their logs."""
    try:
        async with asyncio.timeout(within):
            while not await check():
                for process in processes:
                    process.assert_alive()
                await asyncio.sleep(0.1)
    except TimeoutError:
        logs = "\n".join(process.tail() for process in processes)
        raise AssertionError(f"timed out waiting for {what}\n{logs}") from None
