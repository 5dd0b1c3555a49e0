"""Servers a test starts, stops and restarts itself: never the shared ones.

A test of what happens when Redis goes away must not stop the Redis other
tests (or other people) use. ``PrivateRedis`` runs a throw-away
``redis-server`` on a free loopback port, without persistence, in a directory
of the test's own; the ``private_redis`` fixture starts one and always stops it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tiered.testing.services import in_ci

__all__ = ["PrivateRedis", "free_port", "private_redis_server", "wait_for_port"]


def free_port() -> int:
    """A TCP port nothing listens on at the moment (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, up: bool, timeout: float = 10.0) -> None:
    """Until 127.0.0.1:``port`` accepts connections (``up``) or refuses them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'}")


class PrivateRedis:
    """A throw-away ``redis-server`` on a free port that a test may stop and start again."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        arguments = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        arguments += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen(  # noqa: S603 (our own arguments, no shell)
            [self.binary, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, up=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
        wait_for_port(self.port, up=False)


def _redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server binary not found (apt-get install redis-server)"
        if in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return binary


@contextmanager
def private_redis_server(workdir: Path) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, stopped on the way out (skipped without the binary)."""
    server = PrivateRedis(_redis_server_binary(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
