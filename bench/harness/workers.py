"""Worker processes: one per variant, each driving its application in process."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from harness.variants import BENCH, Variant

__all__ = [
    "Worker",
    "WorkerError",
    "clean_environ",
    "launch_workers",
    "start_workers",
    "stop_all",
    "wait_all",
]


class WorkerError(RuntimeError):
    pass


def clean_environ(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment less anything that would configure a variant by accident."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MARKETS_", "BENCH_", "VIRTUAL_ENV", "PYTHON"))
    }
    return {**kept, "PYTHONHASHSEED": "0", **extra}


class Worker:
    """A running ``worker.py``: orders in on stdin, one JSON answer a line on stdout."""

    def __init__(
        self, variant: Variant, environ: dict[str, str], log: Path, cpu: int | None
    ) -> None:
        self.variant = variant
        self.log = log
        command = [str(variant.python), str(BENCH / "worker.py"), "--app", variant.app]
        if variant.factory:
            command.append("--factory")
        command += ["--app-dir", str(variant.app_dir), "--log", str(log)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=clean_environ(environ),
            cwd=log.parent,
        )
        self._buffer = b""

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise self._failure(f"no answer within {timeout:.0f} s")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise self._failure("exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise self._failure(answer["error"])
        return answer

    def _failure(self, what: str) -> WorkerError:
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return WorkerError(f"{self.variant.key} worker: {what}\n--- log tail ---\n{tail}")

    def wait_ready(self, timeout: float = 60) -> None:
        self._read_line(timeout)

    def ask(self, timeout: float = 120, **order: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(order) + "\n").encode())
        self.process.stdin.flush()
        return self._read_line(timeout)

    def run(self, path: str, query: str, n: int) -> list[int]:
        answer = self.ask(op="run", path=path, query=query, n=n)
        if answer["failures"]:
            raise self._failure(f"{answer['failures']} of {n} requests to {path} were not 200")
        times: list[int] = answer["times_ns"]
        return times

    def fetch(self, path: str, query: str) -> dict[str, Any]:
        return self.ask(op="fetch", path=path, query=query)

    def count(self, path: str, query: str) -> list[str]:
        answer = self.ask(op="count", path=path, query=query)
        statements: list[str] = answer["statements"]
        return statements

    def versions(self) -> dict[str, Any]:
        return self.ask(op="versions")

    def stop(self) -> None:
        """Close its orders (it shuts its application down and exits), or kill it."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                if not self.process.stdin.closed:
                    self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch_workers(
    variants: list[Variant], environs: dict[str, dict[str, str]], log_dir: Path, cpu: int | None
) -> dict[str, Worker]:
    """Start every worker at once, so they import in parallel; wait with ``wait_all``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    workers: dict[str, Worker] = {}
    for item in variants:
        log = log_dir / f"{item.key}.log"
        log.unlink(missing_ok=True)
        workers[item.key] = Worker(item, environs[item.key], log, cpu)
    return workers


def wait_all(workers: dict[str, Worker]) -> None:
    """Wait until every worker is ready; stop them all if one is not."""
    try:
        for worker in workers.values():
            worker.wait_ready()
    except BaseException:
        stop_all(workers)
        raise


def stop_all(workers: dict[str, Worker]) -> None:
    """Close every worker's orders first, so they all shut down at once."""
    for worker in workers.values():
        if worker.process.stdin is not None and not worker.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                worker.process.stdin.close()
    for worker in workers.values():
        worker.stop()


def start_workers(
    variants: list[Variant], environs: dict[str, dict[str, str]], log_dir: Path, cpu: int
) -> dict[str, Worker]:
    workers = launch_workers(variants, environs, log_dir, cpu)
    wait_all(workers)
    return workers
