"""Background jobs: an outbox in the caller's transaction, run at least once, effects once.

``JobQueue.enqueue(uow, task, payload)`` writes a row of the jobs table in the
unit of work's transaction; the in-process :class:`JobWorker` claims due rows
with a lease, retries failures with backoff, and leaves jobs whose tries are
spent as dead letters (:class:`DeadLetterQueue`). :func:`run_once` records a
job's database effect in the effect's own transaction, so a job that runs
again after a crash repeats nothing.

The Celery backend keeps the same table as the outbox and the judge:
:func:`celery_app` builds the Celery app whose one task claims and runs a
delivered job id, :class:`CeleryDispatcher` publishes jobs after commit,
:class:`JobRelay` publishes those no message stands for, and
:func:`run_celery_worker` starts a worker with the relay beside it.
"""

from tiered.jobs.backoff import Backoff
from tiered.jobs.celery_app import (
    broker_url,
    celery_app,
    celery_config,
    celery_dispatcher,
    celery_relay_resource,
    job_executor,
)
from tiered.jobs.celery_dispatch import (
    DEFAULT_QUEUE,
    JOB_TASK_NAME,
    CeleryDispatcher,
    CeleryPublisher,
)
from tiered.jobs.celery_task import CeleryJobExecutor
from tiered.jobs.celery_worker import RelayThread, run_celery_worker
from tiered.jobs.context import JobContext
from tiered.jobs.dead_letters import DeadLetterQueue
from tiered.jobs.dispatch import Dispatcher, InProcessDispatcher, JobRef, NoDispatch
from tiered.jobs.effects import run_once
from tiered.jobs.errors import PermanentJobFailure, UnknownTaskError
from tiered.jobs.memory_queue import InMemoryJobQueue, QueuedJob
from tiered.jobs.queue import Enqueued, EnqueuesJobs, JobQueue, SupportsAfterCommit
from tiered.jobs.records import JobRecord, JobStatus, Progress
from tiered.jobs.registry import Task, TaskRegistry, default_registry, task
from tiered.jobs.relay import (
    RELAY_STATE_KEY,
    JobPublisher,
    JobRelay,
    JobRelayOptions,
    RelayStoppedError,
    job_relay_resource,
)
from tiered.jobs.resource import WORKER_STATE_KEY, JobWorkerOptions, job_worker_resource
from tiered.jobs.runner import JobRunner
from tiered.jobs.sql import HasSession
from tiered.jobs.store import ClaimedJob, JobStore
from tiered.jobs.tables import JobTables, jobs_tables
from tiered.jobs.worker import JobWorker, WorkerStoppedError

__all__ = [
    "DEFAULT_QUEUE",
    "JOB_TASK_NAME",
    "RELAY_STATE_KEY",
    "WORKER_STATE_KEY",
    "Backoff",
    "CeleryDispatcher",
    "CeleryJobExecutor",
    "CeleryPublisher",
    "ClaimedJob",
    "DeadLetterQueue",
    "Dispatcher",
    "Enqueued",
    "EnqueuesJobs",
    "HasSession",
    "InMemoryJobQueue",
    "InProcessDispatcher",
    "JobContext",
    "JobPublisher",
    "JobQueue",
    "JobRecord",
    "JobRef",
    "JobRelay",
    "JobRelayOptions",
    "JobRunner",
    "JobStatus",
    "JobStore",
    "JobTables",
    "JobWorker",
    "JobWorkerOptions",
    "NoDispatch",
    "PermanentJobFailure",
    "Progress",
    "QueuedJob",
    "RelayStoppedError",
    "RelayThread",
    "SupportsAfterCommit",
    "Task",
    "TaskRegistry",
    "UnknownTaskError",
    "WorkerStoppedError",
    "broker_url",
    "celery_app",
    "celery_config",
    "celery_dispatcher",
    "celery_relay_resource",
    "default_registry",
    "job_executor",
    "job_relay_resource",
    "job_worker_resource",
    "jobs_tables",
    "run_celery_worker",
    "run_once",
    "task",
]
