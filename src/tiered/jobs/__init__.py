"""Background jobs: an outbox in the caller's transaction, run at least once, effects once.

``JobQueue.enqueue(uow, task, payload)`` writes a row of the jobs table in the
unit of work's transaction; the in-process :class:`JobWorker` claims due rows
with a lease, retries failures with backoff, and leaves jobs whose tries are
spent as dead letters (:class:`DeadLetterQueue`). :func:`run_once` records a
job's database effect in the effect's own transaction, so a job that runs
again after a crash repeats nothing.
"""

from tiered.jobs.backoff import Backoff
from tiered.jobs.context import JobContext
from tiered.jobs.dead_letters import DeadLetterQueue
from tiered.jobs.dispatch import Dispatcher, InProcessDispatcher, JobRef, NoDispatch
from tiered.jobs.effects import run_once
from tiered.jobs.errors import PermanentJobFailure, UnknownTaskError
from tiered.jobs.memory_queue import InMemoryJobQueue, QueuedJob
from tiered.jobs.queue import Enqueued, EnqueuesJobs, JobQueue, SupportsAfterCommit
from tiered.jobs.records import JobRecord, JobStatus, Progress
from tiered.jobs.registry import Task, TaskRegistry, default_registry, task
from tiered.jobs.resource import WORKER_STATE_KEY, JobWorkerOptions, job_worker_resource
from tiered.jobs.runner import JobRunner
from tiered.jobs.sql import HasSession
from tiered.jobs.store import ClaimedJob, JobStore
from tiered.jobs.tables import JobTables, jobs_tables
from tiered.jobs.worker import JobWorker, WorkerStoppedError

__all__ = [
    "WORKER_STATE_KEY",
    "Backoff",
    "ClaimedJob",
    "DeadLetterQueue",
    "Dispatcher",
    "Enqueued",
    "EnqueuesJobs",
    "HasSession",
    "InMemoryJobQueue",
    "InProcessDispatcher",
    "JobContext",
    "JobQueue",
    "JobRecord",
    "JobRef",
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
    "SupportsAfterCommit",
    "Task",
    "TaskRegistry",
    "UnknownTaskError",
    "WorkerStoppedError",
    "default_registry",
    "job_worker_resource",
    "jobs_tables",
    "run_once",
    "task",
]
