"""pytest plugin of tiered, registered through the ``pytest11`` entry point.

It gives every project the same real-service fixtures and markers: tests
marked ``postgres``, ``redis`` or ``rabbitmq`` are also marked ``services`` so
one ``-m services`` selects everything that needs a running server.
"""

from __future__ import annotations

import pytest

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
