"""pytest plugin of tiered, registered through the ``pytest11`` entry point.

Fixtures: ``postgres_url``, ``redis_url``, ``amqp_url`` (skip locally, fail in
CI when the server is absent), ``clock`` (a ``FrozenClock``), ``memory_store``,
``client`` (an HTTP client on the project's own ``app`` fixture) and
``db_session`` (a rolled-back session on the project's ``database`` fixture). Tests
marked ``postgres``, ``redis`` or ``rabbitmq`` are also marked ``services`` so
one ``-m services`` selects everything that needs a running server.

``client`` and ``db_session`` are ``pytest_asyncio`` fixtures, so they work in
pytest-asyncio's default strict mode as in auto mode. What strict mode cannot
run (an unmarked async test, an async ``app``/``database`` fixture declared
with plain ``@pytest.fixture``) fails with one line saying what to change,
instead of pytest's internal errors. The plugin loads for every project that
has tiered installed, so it must not break pytest where the ``testing`` extra
(pytest-asyncio) is absent: there only its async fixtures fail, saying so.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from tiered.clock import FrozenClock
from tiered.db import Database
from tiered.repository import InMemoryStore
from tiered.testing.client import app_client
from tiered.testing.database import rollback_session
from tiered.testing.private_servers import PrivateRedis, private_redis_server
from tiered.testing.services import SERVICES, require_service

if TYPE_CHECKING:
    from _pytest.fixtures import SubRequest

_SERVICE_MARKERS = frozenset(service.marker for service in SERVICES.values())
_PROJECT_FIXTURES = {"app": "client", "database": "db_session"}
"""Fixtures the project provides, by the kit fixture that needs each."""
_AUTO_MODE = 'set asyncio_mode = "auto" under [tool.pytest.ini_options]'
_F = TypeVar("_F", bound=Callable[..., Any])


def _needs_pytest_asyncio(function: Callable[..., Any]) -> Any:
    """Stand-in for ``pytest_asyncio.fixture``: the fixture fails, saying what to install."""

    def missing() -> NoReturn:
        pytest.fail(
            f"tiered's `{function.__name__}` fixture needs pytest-asyncio: install tiered[testing]",
            pytrace=False,
        )

    missing.__doc__ = function.__doc__
    return pytest.fixture(name=function.__name__)(missing)


def _import_pytest_asyncio() -> ModuleType | None:
    try:
        return importlib.import_module("pytest_asyncio")
    except ModuleNotFoundError as missing:
        if missing.name != "pytest_asyncio":
            raise
        return None


_PYTEST_ASYNCIO = _import_pytest_asyncio()


def _async_fixture(function: _F) -> _F:
    """``pytest_asyncio.fixture``, or a fixture failing with what to install where it is absent."""
    if _PYTEST_ASYNCIO is None:
        return cast("_F", _needs_pytest_asyncio(function))
    return cast("_F", _PYTEST_ASYNCIO.fixture(function))


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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse an async test that no plugin will run, before the kit starts an app for it.

    pytest-asyncio marks every async test in auto mode; in strict mode an
    unmarked one would run its fixtures and then fail with "async def functions
    are not natively supported", which never mentions the mode.
    """
    if _PYTEST_ASYNCIO is None:
        return
    if not isinstance(item, pytest.Function) or not inspect.iscoroutinefunction(item.obj):
        return
    used = [name for name in _PROJECT_FIXTURES.values() if name in item.fixturenames]
    if used and item.get_closest_marker("asyncio") is None:
        pytest.fail(
            f"{item.name} is async and uses tiered's `{used[0]}` fixture, but pytest-asyncio "
            "is in strict mode and the test has no @pytest.mark.asyncio: mark it (or the "
            f"module: pytestmark = pytest.mark.asyncio), or {_AUTO_MODE}",
            pytrace=False,
        )


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: SubRequest) -> None:
    """Refuse an async ``app``/``database`` fixture that strict mode leaves unrun.

    pytest-asyncio's hook wraps the fixtures it runs in a sync function before
    this one is called, so a coroutine function here is one no plugin handles.
    The failure is cached on the fixture as pytest caches a fixture's own
    error: without that, every later test asking for it fails with a bare
    ``AssertionError`` from pytest's fixture bookkeeping.
    """
    consumer = _PROJECT_FIXTURES.get(fixturedef.argname)
    if consumer is None or not _is_async(fixturedef.func):
        return
    try:
        pytest.fail(
            f"the `{fixturedef.argname}` fixture (used by tiered's `{consumer}`) is async under "
            "@pytest.fixture, which pytest-asyncio's strict mode does not run: declare it with "
            f"@pytest_asyncio.fixture, or {_AUTO_MODE}",
            pytrace=False,
        )
    except pytest.fail.Exception as failure:
        traceback = failure.__traceback__
        if traceback is not None:
            fixturedef.cached_result = (None, fixturedef.cache_key(request), (failure, traceback))
        raise


def _is_async(function: Callable[..., object]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


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
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A ``redis-server`` of this test's own, which it may stop and start; stopped after."""
    with private_redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at 2026-01-01T00:00Z; ``clock.advance(seconds)`` moves it."""
    return FrozenClock()


@pytest.fixture
def memory_store() -> InMemoryStore:
    """Empty storage for in-memory repositories and units of work."""
    return InMemoryStore()


def _project_fixture(request: pytest.FixtureRequest, name: str) -> Any:
    """The project's fixture ``name``, or one line saying it is missing.

    Looked up from a sync fixture: an async project fixture is run by
    pytest-asyncio's runner, which cannot start inside a running loop.
    """
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pass  # failed below, outside the handler, so pytest's long listing is not chained
    what = "your ASGI app" if name == "app" else "a tiered.db.Database"
    pytest.fail(
        f"tiered's `{_PROJECT_FIXTURES[name]}` fixture needs a fixture named `{name}` "
        f"returning {what}: define one in your conftest.py",
        pytrace=False,
    )


@pytest.fixture
def _tiered_project_app(request: pytest.FixtureRequest) -> Any:
    return _project_fixture(request, "app")


@pytest.fixture
def _tiered_project_database(request: pytest.FixtureRequest) -> Any:
    return _project_fixture(request, "database")


@_async_fixture
async def client(_tiered_project_app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the project's ``app`` fixture, lifespan running."""
    async with app_client(_tiered_project_app) as http:
        yield http


@_async_fixture
async def db_session(_tiered_project_database: Database) -> AsyncIterator[AsyncSession]:
    """A session on the project's ``database`` fixture whose work is rolled back."""
    async with rollback_session(_tiered_project_database.engine) as session:
        yield session
