"""pytest plugin of tiered, registered through the ``pytest11`` entry point.

Fixtures: ``postgres_url``, ``redis_url``, ``amqp_url`` (skip locally, fail in
CI when the server is absent), ``clock`` (a ``FrozenClock``), ``memory_store``,
``client`` (an HTTP client on the project's own ``app`` fixture) and
``db_session`` (a rolled-back session on the project's ``database`` fixture). Tests
marked ``postgres``, ``redis`` or ``rabbitmq`` are also marked ``services`` so
one ``-m services`` selects everything that needs a running server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tiered.clock import FrozenClock
from tiered.repository import InMemoryStore
from tiered.testing.client import app_client
from tiered.testing.database import rollback_session
from tiered.testing.services import SERVICES, require_service

_SERVICE_MARKERS = frozenset(service.marker for service in SERVICES.values())


def pytest_configure(config: pytest.Config) -> None:
    for service in SERVICES.values():
        config.addinivalue_line(
            "markers", f"{service.marker}: needs {service.name} ({service.env_var})"
        )
    config.addinivalue_line("markers", "services: needs at least one real external service")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in _SERVICE_MARKERS):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_service("postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_service("redis")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return require_service("rabbitmq")


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at 2026-01-01T00:00Z; ``clock.advance(seconds)`` moves it."""
    return FrozenClock()


@pytest.fixture
def memory_store() -> InMemoryStore:
    """Empty storage for in-memory repositories and units of work."""
    return InMemoryStore()


@pytest.fixture
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the project's ``app`` fixture, lifespan running."""
    app = request.getfixturevalue("app")
    async with app_client(app) as http:
        yield http


@pytest.fixture
async def db_session(request: pytest.FixtureRequest) -> AsyncIterator[AsyncSession]:
    """A session on the project's ``database`` fixture whose work is rolled back."""
    database = request.getfixturevalue("database")
    async with rollback_session(database.engine) as session:
        yield session
