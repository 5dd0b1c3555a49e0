"""Test kit: in-process app client and real-service fixtures (pytest plugin)."""

from tiered.testing.child_process import ChildProcess, wait_until
from tiered.testing.client import app_client
from tiered.testing.database import rollback_session, scratch_database, scratch_postgres_database
from tiered.testing.private_servers import (
    PrivateRedis,
    free_port,
    private_redis_server,
    wait_for_port,
)
from tiered.testing.queries import assert_max_queries
from tiered.testing.services import SERVICES, Service, in_ci, require_service

__all__ = [
    "SERVICES",
    "ChildProcess",
    "PrivateRedis",
    "Service",
    "app_client",
    "assert_max_queries",
    "free_port",
    "in_ci",
    "private_redis_server",
    "require_service",
    "rollback_session",
    "scratch_database",
    "scratch_postgres_database",
    "wait_for_port",
    "wait_until",
]
