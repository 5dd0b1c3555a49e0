"""Two server processes on one Redis run a request once, however its retries are spread.

Each process is uvicorn serving a small ``create_app`` application (written to
a temporary file) whose route counts its runs in Redis. Every key is sent to
both processes at once: one runs it, the other answers 409 (still in flight)
or replays the response, never a second run.
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

KEYS = 20

APP = """
import os
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from tiered.app import create_app
from tiered.idempotency import Idempotency, install_idempotency
from tiered.redis_connection import connect_redis
from tiered.settings import AppSettings
from tiered.store import RedisStore

PREFIX = os.environ["TEST_PREFIX"]
redis = connect_redis(os.environ["TEST_REDIS_URL"])
idempotency = Idempotency(RedisStore(redis).namespace(PREFIX))
router = APIRouter()


class Order(BaseModel):
    item: str


@router.post("/orders", status_code=201)
async def place_order(
    order: Order, key: Annotated[str | None, idempotency.key(required=True)]
) -> dict[str, object]:
    runs = await redis.incr(f"{PREFIX}:runs:{key}")
    return {"item": order.item, "runs": runs, "pid": os.getpid()}


def app():
    application = create_app(AppSettings(), routers=[router])
    install_idempotency(application)
    return application
"""


@pytest.fixture
def servers(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[str], str]]:
    (tmp_path / "orders_app.py").write_text(APP)
    prefix = f"test-idempotency-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        "LOG_LEVEL": "WARNING",
        "TEST_PREFIX": prefix,
        "TEST_REDIS_URL": redis_url,
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "orders_app:app",
                "--app-dir",
                str(tmp_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
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
        yield [f"http://127.0.0.1:{port}" for port in ports], prefix
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        client = Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_each_key_runs_once_across_processes(
    servers: tuple[list[str], str], redis_url: str
) -> None:
    urls, prefix = servers
    keys = [f"order-{number}" for number in range(KEYS)]
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{url}/orders", json={"item": key}, headers={"Idempotency-Key": key})
                for key in keys
                for url in urls
            )
        )

    redis = Redis.from_url(redis_url)
    try:
        runs = {key: int(redis.get(f"{prefix}:runs:{key}") or 0) for key in keys}
    finally:
        redis.close()
    assert runs == dict.fromkeys(keys, 1)

    for index, key in enumerate(keys):
        pair = responses[2 * index : 2 * index + 2]
        statuses = sorted(response.status_code for response in pair)
        assert statuses in ([201, 201], [201, 409]), (key, statuses)
        bodies = {response.content for response in pair if response.status_code == 201}
        assert len(bodies) == 1, "a replay is the first response, byte for byte"
        replays = [r for r in pair if r.headers.get("idempotent-replayed") == "true"]
        assert len(replays) == (1 if statuses == [201, 201] else 0)
