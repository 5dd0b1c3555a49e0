"""Two server processes on one Redis admit exactly one quota's worth between them.

Each process is uvicorn serving a small ``create_app`` application (written to
a temporary file); one client sends 3N concurrent requests, alternately to
each, and exactly N are admitted.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from tests.integration.conftest import free_port, wait_for_port

pytestmark = pytest.mark.redis

N = 25

APP = """
import os

from fastapi import APIRouter

from tiered.app import create_app
from tiered.settings import AppSettings

router = APIRouter()


@router.get("/hit")
async def hit() -> dict[str, int]:
    return {"pid": os.getpid()}


def app():
    return create_app(AppSettings(), routers=[router])
"""


@pytest.fixture
def servers(tmp_path: Path, redis_url: str) -> Iterator[list[str]]:
    (tmp_path / "limited_app.py").write_text(APP)
    app_name = f"test-ratelimit-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "APP_NAME": app_name,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_DEFAULT": f"{N}/hour",
        "LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "limited_app:app",
                "--app-dir",
                str(tmp_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--no-proxy-headers",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_for_port(port, up=True, timeout=30)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        client = Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{app_name}:*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_two_processes_admit_exactly_n(servers: list[str]) -> None:
    limits = httpx.Limits(max_connections=3 * N)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        responses = await asyncio.gather(
            *(http.get(f"{servers[number % 2]}/hit") for number in range(3 * N))
        )
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == N, statuses
    assert statuses.count(429) == 2 * N
    for response in responses:
        assert response.headers["ratelimit-policy"] == f'"default";q={N};w=3600'
