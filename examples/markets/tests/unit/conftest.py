"""Service unit tests run on in-memory fakes only: no database, no HTTP."""

from __future__ import annotations

from uuid import uuid4

import pytest

from markets.domain.users import Actor, Role, User
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.repositories.users import UserRepository
from tiered.repository import InMemoryStore


@pytest.fixture
def uow() -> InMemoryMarketsUnitOfWork:
    return InMemoryMarketsUnitOfWork(InMemoryStore())


async def _actor(uow: InMemoryMarketsUnitOfWork, role: Role, name: str) -> Actor:
    user = User(uuid4(), f"{name}@example.com", name.title(), role=role)
    await UserRepository(uow.store).create(user)
    return Actor(user.id, role)


@pytest.fixture
async def alice(uow: InMemoryMarketsUnitOfWork) -> Actor:
    return await _actor(uow, Role.USER, "alice")


@pytest.fixture
async def bob(uow: InMemoryMarketsUnitOfWork) -> Actor:
    return await _actor(uow, Role.USER, "bob")


@pytest.fixture
async def moderator(uow: InMemoryMarketsUnitOfWork) -> Actor:
    return await _actor(uow, Role.MODERATOR, "mona")
