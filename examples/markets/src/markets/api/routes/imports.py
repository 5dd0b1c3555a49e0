"""``POST /api/v1/markets/import``: many markets from one CSV file, created by a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from markets.api.dependencies import UnitOfWorkDep, acting_with
from markets.api.schemas.jobs import JobAccepted
from markets.domain.errors import ImportFileError
from markets.domain.users import Actor, Permission
from markets.services.market_import import ImportService
from markets.services.market_rows import MAX_REPORTED_ERRORS
from tiered.envelope import ApiResponse, json_response
from tiered.errors import (
    FieldError,
    PayloadTooLargeError,
    UnprocessableContentError,
    problem_responses,
)
from tiered.security import permission_problems

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/markets", tags=["markets"])

_MULTIPART = "multipart/form-data"
_FILE_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "contentMediaType": "text/csv",
            "description": "The CSV file: UTF-8, its first line naming the columns.",
        }
    },
}
_NO_FILE = UnprocessableContentError(
    f"Send the CSV file as {_MULTIPART}, in a part named `file`.",
    code="IMPORT_FILE_MISSING",
    errors=[FieldError("/file", "Field required")],
)
_LOCATION = {
    "Location": {
        "description": "Where the import's status, progress and report can be read.",
        "schema": {"type": "string"},
    }
}

_DESCRIPTION = f"""Upload a CSV file of markets to create; you are their creator. Needs the
`write` permission.

The first line names the columns: `name` (required), `description` and `status`
(`draft` or `active`; empty means `draft`), in any order. A file that is not UTF-8 CSV
with these columns is refused at once (422). Otherwise the answer is a 202 with the
import's job: read it at the `Location` (only you can). The job checks every row and
creates the valid ones in batches; its `progress` counts the rows written, and its
`result` reports how many rows were read, created and rejected, with each rejected
row's number (the header is row 1), column and problem (the first
{MAX_REPORTED_ERRORS}). The request body may be at most 5 MB (413 beyond)."""


async def import_service(uow: UnitOfWorkDep) -> ImportService:
    return ImportService(uow)


Importer = Annotated[Actor, Depends(acting_with(Permission.WRITE))]
ImportServiceDep = Annotated[ImportService, Depends(import_service)]


async def _uploaded(request: Request) -> tuple[str | None, bytes]:
    """The ``file`` part, read after the caller was admitted: an anonymous upload is refused
    before its body is parsed."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _MULTIPART:
        raise _NO_FILE
    form = await request.form(max_files=1, max_fields=4)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _NO_FILE
        return upload.filename, await upload.read()
    finally:
        await form.close()


@router.post(
    "/import",
    status_code=202,
    summary="Import markets from a CSV file",
    description=_DESCRIPTION,
    response_model=ApiResponse[JobAccepted],
    responses={
        202: {"headers": _LOCATION},
        **problem_responses(
            400,
            *permission_problems(Permission.WRITE),
            _NO_FILE,
            ImportFileError("the column 'name' is missing"),
            PayloadTooLargeError("The request body is larger than 5242880 bytes."),
        ),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {_MULTIPART: {"schema": _FILE_SCHEMA}}}
    },
)
async def import_markets(actor: Importer, service: ImportServiceDep, request: Request) -> Response:
    filename, data = await _uploaded(request)
    job_id = await service.start(actor, filename, data)
    accepted = JobAccepted.of(job_id)
    return json_response(
        ApiResponse.of(accepted), status_code=202, headers={"Location": accepted.href}
    )
