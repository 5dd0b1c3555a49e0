"""What the API answers when it accepts work for later."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from markets.services.job_status import EXAMPLE_JOB_ID

__all__ = ["JOB_LOCATION", "JobAccepted"]

JOB_LOCATION = "/api/v1/jobs/{job_id}"


class JobAccepted(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_JOB_ID,
                    "status": "queued",
                    "href": JOB_LOCATION.format(job_id=EXAMPLE_JOB_ID),
                }
            ]
        },
    )

    id: UUID
    status: Literal["queued"] = "queued"
    href: str = Field(description="Where the job's status, progress and result can be read.")

    @classmethod
    def of(cls, job_id: UUID) -> JobAccepted:
        return cls(id=job_id, href=JOB_LOCATION.format(job_id=job_id))
