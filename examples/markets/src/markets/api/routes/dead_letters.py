"""``/api/v1/admin/dead-letters``: jobs out of tries, for administrators to requeue or purge."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from markets.api.dependencies import JobsDep, acting_with
from markets.domain.errors import DeadLetterNotFoundError
from markets.domain.users import Actor, Permission
from markets.services.dead_letters import DeadLetterService, DeadLetterView
from markets.services.job_status import EXAMPLE_JOB_ID, JobView
from tiered.envelope import ApiResponse, PageMeta, PageResponse, json_response
from tiered.errors import FieldError, InvalidInputError, problem_responses
from tiered.repository import MAX_OFFSET, MAX_PAGE_SIZE
from tiered.security import permission_problems

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/admin/dead-letters", tags=["admin"])

_PARAMETERS = ("limit", "offset", "kind")
_REPEATED = InvalidInputError(
    "Invalid query parameter: limit is given more than once.",
    code="INVALID_QUERY",
    errors=[FieldError("/limit", "given more than once", "query")],
)


async def dead_letter_service(jobs: JobsDep) -> DeadLetterService:
    return DeadLetterService(jobs.dead_letters(), jobs.store())


async def _once_each(request: Request) -> None:
    """A parameter given twice is a 400, as on every list of this API."""
    for name in _PARAMETERS:
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidInputError(
                f"Invalid query parameter: {name} is given more than once.",
                code="INVALID_QUERY",
                errors=[FieldError(f"/{name}", "given more than once", "query")],
            )


Administrator = Annotated[Actor, Depends(acting_with(Permission.ADMIN))]
DeadLetterServiceDep = Annotated[DeadLetterService, Depends(dead_letter_service)]
JobId = Annotated[UUID, Path(examples=[EXAMPLE_JOB_ID])]
_GUARDED = permission_problems(Permission.ADMIN)
_NOT_DEAD = DeadLetterNotFoundError(EXAMPLE_JOB_ID)


@router.get(
    "",
    summary="List dead letters",
    description="Jobs that used up their tries (or failed for good), most recently failed "
    "first, with their last error; filter by `kind` (the task, e.g. `send-welcome-email`). "
    "Payloads are not shown. Needs the `admin` permission.",
    response_model=PageResponse[DeadLetterView],
    responses=problem_responses(*_GUARDED, _REPEATED),
    dependencies=[Depends(_once_each)],
)
async def list_dead_letters(
    admin: Administrator,
    service: DeadLetterServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
    kind: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[A-Za-z0-9._:-]+$", description="Only this task."),
    ] = None,
) -> Response:
    del admin
    items, total = await service.list(limit=limit, offset=offset, kind=kind)
    meta = PageMeta(total=total, limit=limit, offset=offset)
    return PageResponse[DeadLetterView].respond(items, meta)


@router.post(
    "/{job_id}/requeue",
    summary="Requeue a dead letter",
    description="Give a dead job a fresh set of tries, due now (once whatever made it fail "
    "is fixed). The answer is the job as it now stands: `queued`. A job that is not dead "
    "(or does not exist) is a 404. Needs the `admin` permission.",
    response_model=ApiResponse[JobView],
    responses=problem_responses(*_GUARDED, _NOT_DEAD),
)
async def requeue_dead_letter(
    job_id: JobId, admin: Administrator, service: DeadLetterServiceDep
) -> Response:
    del admin
    return json_response(ApiResponse.of(await service.requeue(job_id)))


@router.delete(
    "/{job_id}",
    status_code=204,
    summary="Purge a dead letter",
    description="Delete a dead job for good. A job that is not dead (or does not exist) is "
    "a 404. Needs the `admin` permission.",
    response_class=Response,
    responses=problem_responses(*_GUARDED, _NOT_DEAD),
)
async def purge_dead_letter(
    job_id: JobId, admin: Administrator, service: DeadLetterServiceDep
) -> Response:
    del admin
    await service.purge(job_id)
    return Response(status_code=204)
