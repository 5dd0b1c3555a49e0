"""The jobs tables, declared on the application's own ``MetaData``.

The library does not own a schema: :func:`jobs_tables` adds its tables to the
metadata the application already migrates (Alembic's autogenerate sees them like
any other table), so the queue lives in the same database, and therefore the
same transactions, as the data whose changes enqueue jobs.

Dead letters are not a table of their own: a job whose tries are spent keeps
its row with ``status = 'dead'``, its last error and its attempt count. Moving
it elsewhere would be one more write that could half-happen, and its id, which
callers already hold, keeps answering status queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from tiered.db.types import UtcDateTime

__all__ = ["JobTables", "jobs_tables"]

_JSON = JSON().with_variant(JSONB(), "postgresql")

TASK_NAME_LENGTH = 200
DEDUP_KEY_LENGTH = 200
OWNER_ID_LENGTH = 200
WORKER_ID_LENGTH = 200
EFFECT_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class JobTables:
    """``jobs`` (the queue, the status record and the dead letters) and ``job_executions``.

    ``job_executions`` records each effect a job performed, keyed by job id and
    effect key, written in the transaction of the effect itself: a redelivered
    job finds the record and does not repeat the effect.
    """

    jobs: Table
    executions: Table


def jobs_tables(metadata: MetaData, *, prefix: str = "") -> JobTables:
    """Add the jobs tables to ``metadata`` (once; a second call returns the same tables).

    ``prefix`` names them ``{prefix}jobs`` and ``{prefix}job_executions``, for
    an application that already has a ``jobs`` table.
    """
    jobs_name, executions_name = f"{prefix}jobs", f"{prefix}job_executions"
    existing = metadata.tables.get(jobs_name)
    if existing is not None:
        return JobTables(jobs=existing, executions=metadata.tables[executions_name])
    jobs = Table(
        jobs_name,
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("task", String(TASK_NAME_LENGTH), nullable=False),
        Column("payload", _JSON, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("max_tries", Integer, nullable=False),
        Column("run_after", UtcDateTime(), nullable=False),
        Column("lease_owner", String(WORKER_ID_LENGTH), nullable=True),
        Column("lease_expires_at", UtcDateTime(), nullable=True),
        Column("dedup_key", String(DEDUP_KEY_LENGTH), nullable=True, unique=True),
        Column("owner_id", String(OWNER_ID_LENGTH), nullable=True),
        Column("progress", _JSON, nullable=True),
        Column("result", _JSON, nullable=True),
        Column("error", Text, nullable=True),
        Column("dispatched_at", UtcDateTime(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
        Column("finished_at", UtcDateTime(), nullable=True),
    )
    Index(f"ix_{jobs_name}_status_run_after", jobs.c.status, jobs.c.run_after)
    Index(f"ix_{jobs_name}_status_lease_expires_at", jobs.c.status, jobs.c.lease_expires_at)
    executions = Table(
        executions_name,
        metadata,
        Column(
            "job_id",
            Uuid(),
            ForeignKey(jobs.c.id, ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("effect_key", String(EFFECT_KEY_LENGTH), primary_key=True),
        Column("attempt", Integer, nullable=False),
        Column("worker", String(WORKER_ID_LENGTH), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    return JobTables(jobs=jobs, executions=executions)
