"""The Celery app of tiered jobs: Celery carries job ids, the jobs table decides.

Celery alone is a poor judge of whether a job ran. On Redis a message held
back past the visibility timeout (a long countdown, a long job) is delivered
a second time, and a task that raised is acknowledged and gone. So the
Celery backend uses Celery only as a transport: a message carries a job's
id, the worker claims the job's row with a lease before running anything,
and retries, dead letters and effects-once stay where the in-process
backend keeps them, in the database.

The configuration makes delivery survive a killed worker:

- ``task_acks_late``: a message is acknowledged after its try, not before,
  so a worker killed mid-job leaves it with the broker (RabbitMQ requeues it
  when the connection drops, Redis after ``jobs_broker_visibility_timeout``);
- ``task_reject_on_worker_lost``: a pool child killed mid-job puts its message
  back rather than acknowledging it;
- ``worker_prefetch_multiplier = 1``: a worker reserves one message beyond
  those it runs, not a batch that a crash would hold up;
- JSON only, no result backend (the jobs table holds results).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from weakref import WeakKeyDictionary

from celery import Celery

from tiered.app.lifespan import Resource
from tiered.clock import Clock
from tiered.errors import ConfigurationError
from tiered.jobs.celery_dispatch import DEFAULT_QUEUE, CeleryDispatcher, CeleryPublisher
from tiered.jobs.celery_task import CeleryJobExecutor, install_job_task
from tiered.jobs.registry import TaskRegistry
from tiered.jobs.relay import job_relay_resource
from tiered.jobs.tables import JobTables
from tiered.settings import AppSettings

__all__ = [
    "broker_url",
    "celery_app",
    "celery_config",
    "celery_dispatcher",
    "celery_relay_resource",
    "is_redis",
    "job_executor",
    "max_countdown",
]

_REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+socket", "sentinel"})
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
"""A publish that cannot reach the broker gives up within about a second: the relay retries."""
BROKER_CONNECT_TIMEOUT = 3.0

_executors: WeakKeyDictionary[Celery, CeleryJobExecutor] = WeakKeyDictionary()


def broker_url(settings: AppSettings) -> str:
    """``jobs_broker_url``, else ``redis_url``; a configuration error when neither is set."""
    url = settings.jobs_broker_url or settings.redis_url
    if not url:
        prefix = str(settings.model_config.get("env_prefix", "")).upper()
        raise ConfigurationError(
            f"The Celery jobs backend needs a broker: set {prefix}JOBS_BROKER_URL "
            f"(redis://… or amqp://…) or {prefix}REDIS_URL."
        )
    return url


def is_redis(url: str) -> bool:
    return urlsplit(url).scheme in _REDIS_SCHEMES


def celery_config(settings: AppSettings, *, queue: str = DEFAULT_QUEUE) -> dict[str, Any]:
    """The Celery settings of the jobs backend (see the module docstring for why)."""
    url = broker_url(settings)
    config: dict[str, Any] = {
        "broker_url": url,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": BROKER_CONNECT_TIMEOUT,
        "task_default_queue": queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_publish_retry_policy": PUBLISH_RETRY_POLICY,
        "enable_utc": True,
        "timezone": "UTC",
    }
    if is_redis(url):
        config["broker_transport_options"] = {
            "visibility_timeout": settings.jobs_broker_visibility_timeout,
            "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
        }
    return config


def celery_app(
    settings: AppSettings,
    registry: TaskRegistry,
    tables: JobTables,
    *,
    queue: str = DEFAULT_QUEUE,
    clock: Clock | None = None,
    main: str | None = None,
) -> Celery:
    """A Celery app that publishes and runs the jobs of ``registry``.

    The same app serves both sides: the web process publishes with it
    (through a :class:`CeleryPublisher`), and ``celery -A module:app worker``
    or :func:`~tiered.jobs.run_celery_worker` runs its jobs, on the database
    of ``settings.database_url``. Further Celery settings can be changed on
    ``app.conf`` before the worker starts.
    """
    app = Celery(main or f"{settings.app_name}-jobs", set_as_current=False)
    app.conf.update(celery_config(settings, queue=queue))
    executor = CeleryJobExecutor(
        settings,
        registry,
        tables,
        CeleryPublisher(app),
        clock=clock,
        max_countdown=max_countdown(settings),
    )
    install_job_task(app, executor)
    _executors[app] = executor
    return app


def job_executor(app: Celery) -> CeleryJobExecutor:
    """What runs the jobs of an app made by :func:`celery_app`."""
    executor = _executors.get(app)
    if executor is None:
        raise ConfigurationError("This Celery app was not made by tiered.jobs.celery_app().")
    return executor


def max_countdown(settings: AppSettings) -> float:
    """The longest countdown published at enqueue: ``jobs_broker_max_countdown``, and on Redis
    at most half the visibility timeout, so a waiting message is never delivered twice."""
    longest = settings.jobs_broker_max_countdown
    if is_redis(broker_url(settings)):
        longest = min(longest, settings.jobs_broker_visibility_timeout / 2)
    return longest


def celery_dispatcher(app: Celery, *, clock: Clock | None = None) -> CeleryDispatcher:
    """The dispatcher for the ``JobQueue`` and ``DeadLetterQueue`` of an app's web process.

    Give the same dispatcher to :func:`celery_relay_resource`, which binds it
    to the app's database for the app's lifetime.
    """
    executor = job_executor(app)
    return CeleryDispatcher(
        executor.publisher,
        executor.tables,
        clock=clock or executor.clock,
        max_countdown=max_countdown(executor.settings),
    )


def celery_relay_resource(
    app: Celery, dispatcher: CeleryDispatcher | None = None, *, clock: Clock | None = None
) -> Resource:
    """The relay of ``app``'s jobs as a lifespan resource of the web application."""
    executor = job_executor(app)
    return job_relay_resource(
        executor.tables, executor.publisher, dispatcher=dispatcher, clock=clock or executor.clock
    )
