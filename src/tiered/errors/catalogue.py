"""Documentation pages for problem types: every ``type`` URI the API emits resolves.

The catalogue is derived from the error classes themselves (every
:class:`AppError` subclass with its own ``slug``), so an application that
defines ``class MarketClosedError(ConflictError): slug = "market-closed"`` gets a
page for it with no registration step.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from fastapi import APIRouter
from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tiered.errors.hierarchy import AppError, NotFoundError
from tiered.errors.openapi import problem_responses
from tiered.errors.problem import PROBLEMS_PATH, problem_type_uri

__all__ = ["ProblemType", "problem_types", "problems_router"]


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    title: str
    status: int
    code: str
    description: str

    @property
    def uri(self) -> str:
        return problem_type_uri(self.slug)


def _subclasses(cls: type[AppError]) -> list[type[AppError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def problem_types() -> dict[str, ProblemType]:
    """Every problem type known to the process, keyed by slug."""
    types: dict[str, ProblemType] = {}
    for cls in _subclasses(AppError):
        if cls.slug not in types:
            types[cls.slug] = ProblemType(
                cls.slug, cls.title, cls.status, cls.code, cls.description
            )
    return types


class _UnknownProblemTypeError(NotFoundError):
    code = "PROBLEM_TYPE_NOT_FOUND"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main>{body}</main></body></html>"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body))


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "html" not in accept


def _json_alternative(schema: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """Document the ``Accept: application/json`` variant beside the HTML page."""
    return {200: {"content": {"application/json": {"schema": schema}}}}


_ONE = TypeAdapter(ProblemType)
_MANY = TypeAdapter(list[ProblemType])


def problems_router() -> APIRouter:
    router = APIRouter(prefix=PROBLEMS_PATH, tags=["problems"])

    @router.get(
        "",
        summary="List problem types",
        description=(
            "Every problem type this API can answer with: its title, HTTP status and default "
            "code. Anyone may call it. HTML by default; JSON when `Accept` asks for JSON and "
            "not for HTML."
        ),
        response_class=HTMLResponse,
        responses=_json_alternative({"type": "array", "items": _ONE.json_schema()}),
    )
    async def list_problem_types(request: Request) -> Response:
        types = sorted(problem_types().values(), key=lambda item: (item.status, item.slug))
        if _wants_json(request):
            return Response(_MANY.dump_json(types), media_type="application/json")
        items = "".join(
            f'<li><a href="{escape(t.uri)}">{escape(t.title)}</a> ({t.status})</li>' for t in types
        )
        return _page("Problem types", f"<h1>Problem types</h1><ul>{items}</ul>")

    @router.get(
        "/{slug}",
        summary="Describe one problem type",
        description=(
            "What one problem type means: the page a problem's `type` member links to. Anyone "
            "may call it. HTML by default; JSON when `Accept` asks for JSON and not for HTML. "
            "An unknown slug is a 404 problem."
        ),
        response_class=HTMLResponse,
        responses={
            **_json_alternative(_ONE.json_schema()),
            **problem_responses(_UnknownProblemTypeError("No problem type is named 'example'.")),
        },
    )
    async def describe_problem_type(slug: str, request: Request) -> Response:
        problem = problem_types().get(slug)
        if problem is None:
            raise _UnknownProblemTypeError(f"No problem type is named {slug!r}.")
        if _wants_json(request):
            return Response(_ONE.dump_json(problem), media_type="application/json")
        body = (
            f"<h1>{escape(problem.title)}</h1>"
            f"<p>HTTP status <strong>{problem.status}</strong>, "
            f"default code <code>{escape(problem.code)}</code>.</p>"
            f"<p>{escape(problem.description)}</p>"
            "<p>Responses of this type use <code>application/problem+json</code> "
            "(RFC 9457) with the members type, title, status, detail, instance, "
            "code and request_id.</p>"
        )
        return _page(problem.title, body)

    return router
