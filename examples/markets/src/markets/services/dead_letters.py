"""The dead letters, for administrators: jobs out of tries, with their last error.

Listing shows what failed and why, never the payload (an import's payload
is a user's whole file). Requeueing gives a job a fresh set of tries, once
the outage or the bug is fixed; purging deletes it for good.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from markets.domain.errors import DeadLetterNotFoundError
from markets.services.job_status import EXAMPLE_JOB_ID, JobReader, JobView, job_view
from tiered.jobs import JobRecord

__all__ = ["DeadLetterPort", "DeadLetterService", "DeadLetterView"]

ERROR_CHARS = 500

_EXAMPLE: JsonDict = {
    "id": EXAMPLE_JOB_ID,
    "kind": "notify-market-resolved",
    "attempts": 6,
    "max_tries": 6,
    "error": "MailUnavailableError: the mail server did not answer",
    "owner_id": None,
    "created_at": "2025-03-05T09:30:00Z",
    "failed_at": "2025-03-05T15:42:10Z",
}


class DeadLetterPort(Protocol):
    async def list(
        self, *, limit: int = 50, offset: int = 0, task: str | None = None
    ) -> list[JobRecord]: ...

    async def count(self, *, task: str | None = None) -> int: ...

    async def requeue(self, job_id: UUID, *, max_tries: int | None = None) -> bool: ...

    async def purge(self, job_id: UUID) -> bool: ...


class DeadLetterView(BaseModel):
    model_config = ConfigDict(frozen=True, json_schema_extra={"examples": [_EXAMPLE]})

    id: UUID
    kind: str
    attempts: int = Field(ge=0)
    max_tries: int = Field(ge=1)
    error: str | None = Field(
        description=f"The last error: its type and the first line of its message (at most "
        f"{ERROR_CHARS} characters)."
    )
    owner_id: str | None = Field(description="The user who started the job, if one did.")
    created_at: datetime
    failed_at: datetime | None


def _first_line(error: str | None) -> str | None:
    """SQLAlchemy puts the statement on the lines after the first: those stay in the table."""
    if error is None:
        return None
    return error.splitlines()[0][:ERROR_CHARS] if error else error


def dead_letter_view(record: JobRecord) -> DeadLetterView:
    return DeadLetterView(
        id=record.id,
        kind=record.task,
        attempts=record.attempts,
        max_tries=record.max_tries,
        error=_first_line(record.error),
        owner_id=record.owner_id,
        created_at=record.created_at,
        failed_at=record.finished_at,
    )


class DeadLetterService:
    def __init__(self, dead_letters: DeadLetterPort, jobs: JobReader) -> None:
        self.dead_letters = dead_letters
        self.jobs = jobs

    async def list(
        self, *, limit: int, offset: int, kind: str | None = None
    ) -> tuple[list[DeadLetterView], int]:
        """One page, most recently failed first, and how many there are in all."""
        records = await self.dead_letters.list(limit=limit, offset=offset, task=kind)
        total = await self.dead_letters.count(task=kind)
        return [dead_letter_view(record) for record in records], total

    async def requeue(self, job_id: UUID) -> JobView:
        if not await self.dead_letters.requeue(job_id):
            raise DeadLetterNotFoundError(job_id)
        record = await self.jobs.get(job_id)
        if record is None:  # purged in between
            raise DeadLetterNotFoundError(job_id)
        return job_view(record)

    async def purge(self, job_id: UUID) -> None:
        if not await self.dead_letters.purge(job_id):
            raise DeadLetterNotFoundError(job_id)
