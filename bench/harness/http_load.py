"""Throughput and tail latency over HTTP: uvicorn pinned to one core, wrk on the other.

Every variant's server runs at once (each on its own loopback port, all on
the same core, idle while another is loaded); each wrk run is bounded in
time, and runs of different variants alternate, repetition after repetition.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.dataset import Dataset
from harness.variants import Route, Variant, production_secrets
from harness.workers import clean_environ

__all__ = ["HttpPlan", "HttpResult", "WrkRun", "load_available", "measure_http", "serving"]

HOST = "127.0.0.1"


def _free_port() -> int:
    """A loopback port nothing listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class HttpPlan:
    reps: int
    seconds: int
    warmup_seconds: int
    connections: int


@dataclass(frozen=True, slots=True)
class WrkRun:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class HttpResult:
    dataset: str
    routes: list[str]
    runs: dict[tuple[str, str], list[WrkRun]] = field(default_factory=dict)


def load_available() -> bool:
    return shutil.which("wrk") is not None and shutil.which("taskset") is not None


class Server:
    def __init__(
        self, variant: Variant, port: int, environ: dict[str, str], log: Path, cpu: int | None
    ) -> None:
        self.variant = variant
        self.port = port
        self.log = log
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        command = [*pin, str(variant.python), "-m", "uvicorn", variant.app]
        if variant.factory:
            command.append("--factory")
        command += [
            *("--app-dir", str(variant.app_dir), "--host", HOST, "--port", str(port)),
            *("--workers", "1", "--loop", "uvloop", "--http", "httptools"),
            *("--no-access-log", "--log-level", "warning"),
            *("--no-server-header", "--no-proxy-headers"),
        ]
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=clean_environ(environ),
                cwd=log.parent,
            )

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def get(self, path: str, timeout: float = 5) -> tuple[int, list[list[str]], bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as response:
                headers = [[name.lower(), value] for name, value in response.headers.items()]
                return response.status, headers, response.read()
        except urllib.error.HTTPError as error:
            headers = [[name.lower(), value] for name, value in error.headers.items()]
            return error.code, headers, error.read()

    def fetch(self, path: str, query: str) -> dict[str, Any]:
        """The same answer as a worker's ``fetch``, over HTTP."""
        status, headers, body = self.get(f"{path}?{query}" if query else path)
        return {"status": status, "headers": headers, "body": body.decode("utf-8", "replace")}

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.get("/health/live", timeout=1)[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.variant.key} server did not start\n--- log tail ---\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class serving:  # noqa: N801 - used as a context manager, like open()
    """One server per variant on ``dataset``: started here, ready on entry, stopped on exit."""

    def __init__(
        self, dataset: Dataset, variants: list[Variant], log_dir: Path, *, cpu: int | None = 0
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        secrets_ = production_secrets()
        self.servers: dict[str, Server] = {}
        try:
            for item in variants:
                environ = item.environ(dataset.url, secrets_)
                log = log_dir / f"{item.key}.http.log"
                self.servers[item.key] = Server(item, _free_port(), environ, log, cpu)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> dict[str, Server]:
        try:
            for server in self.servers.values():
                server.wait_ready()
        except BaseException:
            self.close()
            raise
        return self.servers

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        for server in self.servers.values():
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers.values():
            server.stop()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _latency_ms(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {percentile}% latency:\n{output}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, seconds: int, connections: int) -> WrkRun:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--latency", "--timeout", "10s", url]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkRun(
        float(rate.group(1)), _latency_ms(output, "50"), _latency_ms(output, "99"), errors
    )


def measure_http(
    dataset: Dataset,
    variants: list[Variant],
    routes: list[Route],
    plan: HttpPlan,
    *,
    market_id: str,
    log_dir: Path,
    progress: Any = print,
) -> HttpResult:
    result = HttpResult(dataset.name, [route.key for route in routes])
    runs: dict[tuple[str, str], list[WrkRun]] = defaultdict(list)
    with serving(dataset, variants, log_dir) as servers:
        for route in routes:
            for server in servers.values():
                if route.key in server.variant.routes:
                    wrk(server.url(route.url(market_id)), plan.warmup_seconds, plan.connections)
        for rep in range(plan.reps):
            for route in routes:
                members = [key for key, s in servers.items() if route.key in s.variant.routes]
                shift = rep % len(members)
                for key in members[shift:] + members[:shift]:
                    url = servers[key].url(route.url(market_id))
                    runs[(route.key, key)].append(wrk(url, plan.seconds, plan.connections))
            progress(f"  {dataset.name} HTTP repetition {rep + 1}/{plan.reps} done")
    result.runs = dict(runs)
    return result
