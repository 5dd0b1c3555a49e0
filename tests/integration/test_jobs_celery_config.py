"""The Celery app of the jobs backend: the settings that make delivery survive a killed worker.

No broker is contacted: these check the configuration the factory builds.
"""

from __future__ import annotations

import warnings

import pytest
from celery import Celery
from sqlalchemy import MetaData

from tiered.errors import ConfigurationError
from tiered.jobs import (
    JOB_TASK_NAME,
    TaskRegistry,
    broker_url,
    celery_app,
    celery_config,
    celery_dispatcher,
    job_executor,
    jobs_tables,
)
from tiered.settings import AppSettings, JobsBackendKind

TABLES = jobs_tables(MetaData())


def settings(**values: object) -> AppSettings:
    return AppSettings(environment="test", **values)  # type: ignore[arg-type]


def test_the_broker_is_jobs_broker_url_else_redis_url() -> None:
    assert broker_url(settings(redis_url="redis://cache:6379/0")) == "redis://cache:6379/0"
    assert (
        broker_url(settings(redis_url="redis://cache/0", jobs_broker_url="amqp://mq//"))
        == "amqp://mq//"
    )
    with pytest.raises(ConfigurationError, match="JOBS_BROKER_URL"):
        broker_url(settings())


def test_jobs_backend_defaults_to_in_process_and_accepts_celery() -> None:
    assert settings().jobs_backend is JobsBackendKind.INPROCESS
    assert settings(jobs_backend="celery").jobs_backend is JobsBackendKind.CELERY


def test_messages_are_acknowledged_late_put_back_on_worker_loss_and_json_only() -> None:
    config = celery_config(settings(jobs_broker_url="amqp://mq//"), queue="jobs")
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert (config["task_serializer"], config["accept_content"]) == ("json", ["json"])
    assert config["task_default_queue"] == "jobs"
    assert config["result_backend"] is None
    assert "broker_transport_options" not in config  # the visibility timeout is Redis's


def test_redis_gets_the_visibility_timeout_and_short_countdowns() -> None:
    chosen = settings(
        jobs_broker_url="redis://cache/0",
        jobs_broker_visibility_timeout=120,
        jobs_broker_max_countdown=600,
    )
    config = celery_config(chosen)
    assert config["broker_transport_options"]["visibility_timeout"] == 120
    app = celery_app(chosen, TaskRegistry(), TABLES)
    assert celery_dispatcher(app).max_countdown == 60  # half the visibility timeout
    assert app.conf.task_acks_late is True


def test_the_app_registers_the_one_generic_task() -> None:
    app = celery_app(settings(jobs_broker_url="amqp://mq//"), TaskRegistry(), TABLES)
    task = app.tasks[JOB_TASK_NAME]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert job_executor(app).tables is TABLES
    assert celery_dispatcher(app).max_countdown == 600


def test_an_app_not_made_for_jobs_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="celery_app"):
        job_executor(Celery("other", set_as_current=False))


def test_two_apps_in_one_process_each_run_their_own_jobs() -> None:
    first = celery_app(settings(jobs_broker_url="amqp://mq//"), TaskRegistry(), TABLES)
    second = celery_app(settings(jobs_broker_url="amqp://mq//"), TaskRegistry(), TABLES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Celery warns when a task name is taken twice
        first_task, second_task = first.tasks[JOB_TASK_NAME], second.tasks[JOB_TASK_NAME]
    assert first_task.run is not second_task.run
    assert job_executor(first) is not job_executor(second)
