"""What a job is, as callers read it: its status, progress, result or error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

__all__ = ["JobRecord", "JobStatus", "Progress"]


class JobStatus(StrEnum):
    """Where a job is in its life.

    ``failed`` is a failed attempt with another one scheduled at ``run_after``;
    ``dead`` is final (tries spent, or a permanent failure) until requeued.
    """

    QUEUED = "queued"
    RUNNING = "running"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    DEAD = "dead"

    @property
    def finished(self) -> bool:
        return self in {JobStatus.SUCCEEDED, JobStatus.DEAD}


WAITING = (JobStatus.QUEUED.value, JobStatus.FAILED.value)
"""Statuses a worker may claim once ``run_after`` has passed."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a running job has come: ``done`` of ``total`` units (total unknown: ``None``)."""

    done: int
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(self.done / self.total, 1.0)

    def as_json(self) -> dict[str, int | None]:
        return {"done": self.done, "total": self.total}

    @classmethod
    def from_json(cls, value: Any) -> Progress | None:
        if not isinstance(value, Mapping):
            return None
        return cls(done=int(value["done"]), total=value.get("total"))


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of the jobs table, decoded."""

    id: UUID
    task: str
    payload: Any
    status: JobStatus
    attempts: int
    max_tries: int
    run_after: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    dedup_key: str | None
    owner_id: str | None
    progress: Progress | None
    result: Any
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> JobRecord:
        return cls(
            id=row["id"],
            task=row["task"],
            payload=row["payload"],
            status=JobStatus(row["status"]),
            attempts=row["attempts"],
            max_tries=row["max_tries"],
            run_after=row["run_after"],
            lease_owner=row["lease_owner"],
            lease_expires_at=row["lease_expires_at"],
            dedup_key=row["dedup_key"],
            owner_id=row["owner_id"],
            progress=Progress.from_json(row["progress"]),
            result=row["result"],
            error=row["error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )
