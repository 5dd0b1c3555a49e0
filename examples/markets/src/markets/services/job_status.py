"""What a caller may learn about a job: only their own, and nothing internal.

A job belongs to the user who started it (an import); anyone else, and any
job nobody owns (emails, notifications), gets the same 404 as a job that
does not exist. The stored error of a failed try may name servers or quote
SQL, so the owner reads what happened in plain words instead; the stored
error is for administrators (the dead letters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from markets.domain.errors import JobNotFoundError
from markets.domain.users import Actor
from tiered.jobs import JobRecord, JobStatus

__all__ = ["EXAMPLE_JOB_ID", "JobProgress", "JobReader", "JobStatusService", "JobView", "job_view"]

EXAMPLE_JOB_ID = "9f1c2b3a-4d5e-4f60-8a7b-6c5d4e3f2a1b"

_EXAMPLE: JsonDict = {
    "id": EXAMPLE_JOB_ID,
    "kind": "import-markets",
    "status": "running",
    "attempts": 1,
    "max_tries": 3,
    "progress": {"done": 500, "total": 1240, "fraction": 0.4032},
    "result": None,
    "error": None,
    "created_at": "2025-03-05T09:30:00Z",
    "updated_at": "2025-03-05T09:30:04Z",
    "finished_at": None,
}


class JobReader(Protocol):
    async def get(self, job_id: UUID) -> JobRecord | None: ...


class JobProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    done: int = Field(ge=0)
    total: int | None = Field(description="Units of work in all; null while unknown.")
    fraction: float | None = Field(description="`done / total`, from 0 to 1; null while unknown.")


class JobView(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [_EXAMPLE]})

    id: UUID
    kind: str = Field(description="What the job does, e.g. `import-markets`.")
    status: JobStatus = Field(
        description="`queued`, `running`, `failed` (a try failed; another is scheduled), "
        "`succeeded` or `dead` (no further tries)."
    )
    attempts: int = Field(ge=0, description="Tries started so far.")
    max_tries: int = Field(ge=1)
    progress: JobProgress | None
    result: Any = Field(
        default=None, description="What the job produced once it succeeded; null before."
    )
    error: str | None = Field(
        description="Why the last try failed, in plain words; null otherwise."
    )
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


_ERRORS = {
    JobStatus.FAILED: "The last try failed; another one is scheduled.",
    JobStatus.DEAD: "The job failed and will not be tried again.",
}


def job_view(record: JobRecord) -> JobView:
    progress = record.progress
    return JobView(
        id=record.id,
        kind=record.task,
        status=record.status,
        attempts=record.attempts,
        max_tries=record.max_tries,
        progress=None
        if progress is None
        else JobProgress(done=progress.done, total=progress.total, fraction=progress.fraction),
        result=record.result if record.status is JobStatus.SUCCEEDED else None,
        error=_ERRORS.get(record.status),
        created_at=record.created_at,
        updated_at=record.updated_at,
        finished_at=record.finished_at,
    )


class JobStatusService:
    def __init__(self, jobs: JobReader) -> None:
        self.jobs = jobs

    async def get(self, actor: Actor, job_id: UUID) -> JobView:
        record = await self.jobs.get(job_id)
        if record is None or record.owner_id != str(actor.user_id):
            raise JobNotFoundError(job_id)
        return job_view(record)
