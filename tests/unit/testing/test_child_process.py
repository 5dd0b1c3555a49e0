"""``ChildProcess`` and ``wait_until``: what worker tests rely on when a process dies or hangs."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tiered.testing import ChildProcess, wait_until

pytestmark = pytest.mark.asyncio

_SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"


async def _started(tmp_path: Path, code: str) -> ChildProcess:
    return await ChildProcess.start(sys.executable, "-c", code, log=tmp_path / "child.log")


async def test_a_stopped_process_reports_its_exit_and_a_killed_one_dies(tmp_path: Path) -> None:
    first = await _started(tmp_path, _SLEEPER)

    async def ready() -> bool:
        return "ready" in first.log.read_text()

    await wait_until(ready, "the child to start", [first], within=30)
    first.assert_alive()
    assert await first.stop(within=30) == -signal.SIGTERM
    first.assert_alive()  # an exit the test asked for is not a failure

    second = await _started(tmp_path, _SLEEPER)
    await second.kill()
    assert second.process.returncode == -signal.SIGKILL


async def test_an_unexpected_exit_fails_the_wait_with_the_process_log(tmp_path: Path) -> None:
    child = await _started(tmp_path, "print('the last words'); raise SystemExit(3)")
    await child.process.wait()

    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"exited \(3\)[\s\S]*the last words"):
        await wait_until(never, "something", [child], within=30)


async def test_a_wait_that_times_out_shows_every_log(tmp_path: Path) -> None:
    child = await _started(tmp_path, _SLEEPER)
    try:

        async def never() -> bool:
            return False

        with pytest.raises(AssertionError, match=r"timed out waiting for the moon[\s\S]*child.log"):
            await wait_until(never, "the moon", [child], within=0.3)
    finally:
        await child.kill()
