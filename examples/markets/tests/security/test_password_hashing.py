"""Password hashing under load (OWASP API4): a burst of sign-ins queues in a bounded pool,
then sheds with a 503, and the app hashes with argon2id at the OWASP parameters.

The pool's hashes wait at a gate the test opens, so what is asserted is how
many run and wait at once, never how long anything takes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
import pytest
from examples.markets.tests.conftest import PASSWORD, Accounts

from markets.config import Settings
from markets.domain.users import User
from markets.main import create_app
from markets.repositories.unit_of_work import MarketsUnitOfWork
from tiered.db import Database
from tiered.security import Argon2PasswordHasher, HashingPool
from tiered.testing import app_client

NewUow = Callable[[], MarketsUnitOfWork]
T = TypeVar("T")
REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"


async def _user(new_uow: NewUow, email: str) -> User | None:
    async with new_uow().read_only() as uow:
        return await uow.users.get_by_email(email)


class GatedPool(HashingPool):
    """A hashing pool whose hashes wait at a gate, counting how many run at once."""

    def __init__(self, *, max_concurrency: int, max_waiting: int) -> None:
        super().__init__(max_concurrency=max_concurrency, max_waiting=max_waiting)
        self.gate = threading.Event()
        self.full = threading.Event()
        self.running = self.peak = self.arrived = 0
        self.expected = 0
        self.all_arrived = asyncio.Event()
        self._lock = threading.Lock()

    def expect(self, callers: int) -> None:
        """Close the gate and set ``all_arrived`` once ``callers`` more hashes are asked for."""
        self.gate.clear()
        self.arrived, self.expected = 0, callers
        self.all_arrived.clear()

    async def run(self, work: Callable[[], T]) -> T:
        self.arrived += 1
        if self.arrived == self.expected:
            self.all_arrived.set()

        def gated() -> T:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
                if self.running == self.max_concurrency:
                    self.full.set()
            try:
                self.gate.wait(timeout=30)
                return work()
            finally:
                with self._lock:
                    self.running -= 1

        return await super().run(gated)


@pytest.fixture
async def gated(
    database_url: str, database: Database, new_uow: NewUow
) -> AsyncIterator[tuple[GatedPool, Accounts]]:
    """The app on a hasher whose pool runs 2 hashes at once and queues 18 more."""
    del database
    pool = GatedPool(max_concurrency=2, max_waiting=18)
    hasher = Argon2PasswordHasher(
        memory_cost=8, time_cost=1, parallelism=1, allow_weak_for_tests=True, pool=pool
    )
    settings = Settings(environment="test", database_url=database_url, log_level="WARNING")
    app = create_app(settings, password_hasher=hasher)
    try:
        async with app_client(app) as client:
            yield pool, Accounts(client, new_uow)
    finally:
        pool.gate.set()
        hasher.close()


async def _after_other_tasks() -> None:
    """Let every ready task run until it blocks (no time passes: it only yields)."""
    for _ in range(200):
        await asyncio.sleep(0)


async def test_concurrent_sign_ins_stay_within_the_hashing_bound(
    gated: tuple[GatedPool, Accounts],
) -> None:
    pool, accounts = gated
    pool.gate.set()
    await accounts.register("kim@example.com")
    pool.expect(20)
    form = {"username": "kim@example.com", "password": PASSWORD}
    logins = [asyncio.create_task(accounts.api.post(TOKEN, data=form)) for _ in range(20)]
    await asyncio.wait_for(pool.all_arrived.wait(), 30)
    assert await asyncio.to_thread(pool.full.wait, 30)
    await _after_other_tasks()
    assert pool.running == pool.max_concurrency == 2
    assert pool.admitted == 20
    pool.gate.set()
    responses = await asyncio.gather(*logins)
    assert [response.status_code for response in responses] == [200] * 20
    assert pool.peak == 2


async def test_sign_ins_beyond_the_queue_are_shed_with_a_503(
    gated: tuple[GatedPool, Accounts],
) -> None:
    pool, accounts = gated
    pool.gate.set()
    await accounts.register("lee@example.com")
    pool.expect(25)
    form = {"username": "lee@example.com", "password": PASSWORD}
    logins = [asyncio.create_task(accounts.api.post(TOKEN, data=form)) for _ in range(25)]
    await asyncio.wait_for(pool.all_arrived.wait(), 30)
    done: set[asyncio.Task[httpx.Response]] = set()
    while len(done) < 5:
        finished, _ = await asyncio.wait(
            set(logins) - done, timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        assert finished, "the sign-ins beyond the queue were not refused"
        done |= finished
    await _after_other_tasks()
    shed = [task.result() for task in logins if task.done()]
    assert len(shed) == 5
    assert pool.admitted == 20
    for response in shed:
        assert response.status_code == 503
        assert response.json()["code"] == "PASSWORD_HASHER_BUSY"
        assert response.headers["retry-after"] == "1"
    pool.gate.set()
    served = await asyncio.gather(*logins)
    assert sorted(response.status_code for response in served) == [200] * 20 + [503] * 5


async def test_the_app_hashes_with_owasp_argon2id_by_default(
    database_url: str, database: Database, new_uow: NewUow
) -> None:
    del database
    app = create_app(Settings(environment="test", database_url=database_url, log_level="WARNING"))
    async with app_client(app) as client:
        body = {"email": "owasp@example.com", "password": PASSWORD, "display_name": "O"}
        assert (await client.post(REGISTER, json=body)).status_code == 201
        form = {"username": "owasp@example.com", "password": PASSWORD}
        assert (await client.post(TOKEN, data=form)).status_code == 200
    stored = await _user(new_uow, "owasp@example.com")
    assert stored is not None
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
