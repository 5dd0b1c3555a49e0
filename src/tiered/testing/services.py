"""Real services in tests: skipped on a laptop without them, failed in CI.

A test that needs PostgreSQL, Redis or RabbitMQ asks for the matching fixture
(``postgres_url``, ``redis_url``, ``amqp_url``). When the service does not
answer, the test is skipped with a one-line reason, unless ``CI=true``: there a
missing service is a broken pipeline and the test fails.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import pytest

__all__ = ["SERVICES", "Service", "in_ci", "require_service"]


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    marker: str
    env_var: str
    default_url: str
    default_port: int

    @property
    def url(self) -> str:
        return os.environ.get(self.env_var, self.default_url)


SERVICES = {
    "postgres": Service(
        "PostgreSQL",
        "postgres",
        "TIERED_TEST_POSTGRES_URL",
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        5432,
    ),
    "redis": Service("Redis", "redis", "TIERED_TEST_REDIS_URL", "redis://127.0.0.1:6379/15", 6379),
    "rabbitmq": Service(
        "RabbitMQ", "rabbitmq", "TIERED_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//", 5672
    ),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@cache
def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(key: str) -> str:
    """The service's URL, or skip (fail in CI) when nothing listens there."""
    service = SERVICES[key]
    url = service.url
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or service.default_port
    if not _reachable(host, port):
        reason = f"{service.name} not reachable at {host}:{port} (set {service.env_var})"
        if in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    return url
