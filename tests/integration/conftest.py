"""Servers the tests start and stop themselves (never the shared ones).

``private_redis`` is a fixture of tiered's pytest plugin; the names below are
re-exported for the tests that type or start their own servers.
"""

from __future__ import annotations

from tiered.testing import PrivateRedis, free_port, wait_for_port

__all__ = ["PrivateRedis", "free_port", "wait_for_port"]
