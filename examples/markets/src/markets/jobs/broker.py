"""The Celery app of the markets jobs, one definition for the servers and the workers.

Servers publish with it and ``markets worker`` consumes with it, so both
must agree on the broker, the queue (``jobs_queue``) and, on Redis, the key
prefix (``jobs_broker_key_prefix``). Everything else (late acks, rejection
on a lost worker, JSON, no result backend) is tiered's configuration.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from celery import Celery

from markets.config import Settings
from markets.repositories.tables import JOB_TABLES
from markets.services.tasks import DECLARED_TASKS
from tiered.clock import Clock
from tiered.jobs import TaskRegistry, broker_url, celery_app

__all__ = ["declared_registry", "markets_celery_app"]

_REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+socket", "sentinel"})


def declared_registry() -> TaskRegistry:
    """The declared tasks without handlers: what a server needs to publish, never to run."""
    registry = TaskRegistry()
    for declared in DECLARED_TASKS:
        registry.register(declared)
    return registry


def markets_celery_app(
    settings: Settings, registry: TaskRegistry, *, clock: Clock | None = None
) -> Celery:
    """The jobs' Celery app on ``settings``; ``registry`` is what its workers run."""
    app = celery_app(
        settings,
        registry,
        JOB_TABLES,
        queue=settings.jobs_queue,
        clock=clock,
        main=f"{settings.app_name}-jobs",
    )
    prefix = settings.jobs_broker_key_prefix
    if prefix and urlsplit(broker_url(settings)).scheme in _REDIS_SCHEMES:
        options = dict(app.conf.broker_transport_options or {})
        options["global_keyprefix"] = prefix
        app.conf.broker_transport_options = options
    return app
