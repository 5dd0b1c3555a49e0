"""``GET /api/v1/jobs/{job_id}``: the status of work the caller started."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from markets.api.dependencies import JobsDep, acting_with
from markets.domain.errors import JobNotFoundError
from markets.domain.users import Actor, Permission
from markets.services.job_status import EXAMPLE_JOB_ID, JobStatusService, JobView
from tiered.envelope import ApiResponse, json_response
from tiered.errors import problem_responses
from tiered.security import permission_problems

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


async def job_status_service(jobs: JobsDep) -> JobStatusService:
    return JobStatusService(jobs.store())


Reader = Annotated[Actor, Depends(acting_with(Permission.READ))]
JobStatusServiceDep = Annotated[JobStatusService, Depends(job_status_service)]


@router.get(
    "/{job_id}",
    summary="Read a job's status",
    description="A job you started (an import): its status, its progress while it runs, "
    "then its result, or why it failed in plain words. Needs the `read` permission. "
    "Someone else's job is a 404, like one that does not exist.",
    response_model=ApiResponse[JobView],
    responses=problem_responses(
        *permission_problems(Permission.READ), JobNotFoundError(EXAMPLE_JOB_ID)
    ),
)
async def read_job(
    job_id: Annotated[UUID, Path(examples=[EXAMPLE_JOB_ID])],
    actor: Reader,
    service: JobStatusServiceDep,
) -> Response:
    return json_response(ApiResponse.of(await service.get(actor, job_id)))
