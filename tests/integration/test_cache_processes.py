"""Two OS processes on one Redis: leases make them load once; writes reach the other's memory.

Each process runs a small worker (written to a temporary file) that takes
JSON commands on stdin and answers with JSON lines on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from tiered.redis_connection import connect_redis

pytestmark = pytest.mark.redis

WORKER = r"""
import asyncio, json, os, sys
from redis.asyncio import Redis
from tiered.cache import Cache, RedisCacheBackend, TwoLevelCacheBackend
from tiered.redis_connection import connect_redis

url, namespace, kind = sys.argv[1:4]
loads = 0
waits = 0


def emit(**message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main():
    global loads, waits
    client = connect_redis(url)
    blocking = Redis.from_url(url)
    if kind == "redis":
        backend = RedisCacheBackend(client, namespace=namespace)
        waiting_on = backend
    else:
        backend = TwoLevelCacheBackend(client, namespace=namespace)
        waiting_on = backend.remote
    original_wait = waiting_on.wait_for_fill

    async def wait_for_fill(key, at_most):
        global waits
        waits += 1
        emit(event="waiting")
        return await original_wait(key, at_most)

    waiting_on.wait_for_fill = wait_for_fill
    assert await backend.start(wait=10)
    cache = Cache(backend, lease_wait=30)

    async def slow_loader():
        global loads
        loads += 1
        emit(event="loading")
        await blocking.blpop([f"{namespace}:gate"], timeout=30)
        await blocking.incr(f"{namespace}:loads")
        return {"loaded_by": os.getpid()}

    async def run(command):
        op = command["op"]
        if op == "burst":
            values = await asyncio.gather(
                *(cache.get_or_set(command["key"], slow_loader) for _ in range(command["n"]))
            )
            emit(event="burst", values=values, loads=loads, waits=waits)
        elif op == "get_or_set":
            async def load():
                return command["value"]
            emit(event="value", value=await cache.get_or_set(command["key"], load))
        elif op == "get":
            await cache.sync()
            emit(event="value", value=await cache.get(command["key"]))
        elif op == "set":
            await cache.set(command["key"], command["value"])
            emit(event="done")

    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit(event="ready", pid=os.getpid())
    tasks = set()
    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "quit":
            break
        task = asyncio.ensure_future(run(command))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await cache.aclose()
    await blocking.aclose()
    await client.aclose()


asyncio.run(main())
"""


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def expect(self, event: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 30)
        assert line, f"the worker exited while a test waited for {event!r}"
        message: dict[str, Any] = json.loads(line)
        assert message["event"] == event, message
        return message


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = connect_redis(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture
async def start_worker(redis_url: str, redis_client: Redis, tmp_path: Path) -> AsyncIterator[Any]:
    script = tmp_path / "cache_worker.py"
    script.write_text(WORKER)
    namespace = f"tiered-test-processes-{uuid.uuid4().hex}"
    workers: list[Worker] = []

    async def start(kind: str) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            redis_url,
            namespace,
            kind,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        worker = Worker(process)
        workers.append(worker)
        await worker.expect("ready")
        return worker

    start.namespace = namespace  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                await worker.send(op="quit")
                try:
                    await asyncio.wait_for(worker.process.wait(), 10)
                except TimeoutError:
                    worker.process.kill()
                    await worker.process.wait()
        async for key in redis_client.scan_iter(match=f"{namespace}:*"):
            await redis_client.delete(key)


async def test_two_processes_load_once_through_the_lease(
    start_worker: Any, redis_client: Redis
) -> None:
    namespace = start_worker.namespace
    first, second = await start_worker("redis"), await start_worker("redis")

    await first.send(op="burst", key="hot", n=20)
    await first.expect("loading")
    await second.send(op="burst", key="hot", n=20)
    await second.expect("waiting")
    await redis_client.lpush(f"{namespace}:gate", b"go")

    first_burst, second_burst = await first.expect("burst"), await second.expect("burst")
    values = first_burst["values"] + second_burst["values"]
    assert len(values) == 40
    assert all(value == first_burst["values"][0] for value in values)
    assert (first_burst["loads"], second_burst["loads"]) == (1, 0)
    assert second_burst["waits"] == 1
    assert await redis_client.get(f"{namespace}:loads") == b"1"


async def test_a_write_in_one_process_reaches_the_other_local_layer(
    start_worker: Any, redis_client: Redis
) -> None:
    namespace = start_worker.namespace
    writer, reader = await start_worker("two_level"), await start_worker("two_level")

    await writer.send(op="get_or_set", key="market", value="v1")
    assert (await writer.expect("value"))["value"] == "v1"
    await reader.send(op="get_or_set", key="market", value="unused")
    assert (await reader.expect("value"))["value"] == "v1"

    await redis_client.set(f"{namespace}:e:k:market", b'"unannounced"', px=60_000)
    await reader.send(op="get", key="market")
    assert (await reader.expect("value"))["value"] == "v1", "the reader serves its local copy"

    await writer.send(op="set", key="market", value="v2")
    await writer.expect("done")
    await reader.send(op="get", key="market")
    assert (await reader.expect("value"))["value"] == "v2"
