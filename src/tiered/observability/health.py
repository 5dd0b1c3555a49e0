"""Liveness and readiness.

Liveness says the process answers; readiness says every dependency answers.
Probes run concurrently, each bounded by a timeout, and are re-run on every
call, so readiness turns back to 200 as soon as a dependency recovers — no
restart needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from tiered.errors import ExternalServiceError, problem_responses, render_error
from tiered.observability.logging import get_logger

__all__ = ["HealthProbe", "HealthReport", "check_health", "health_router"]

_log = get_logger("tiered.health")


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """A named dependency check: ``check`` raises (or times out) when it is down."""

    name: str
    check: Callable[[], Awaitable[None]]
    timeout_seconds: float = 2.0


class HealthReport(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]]


async def _run(probe: HealthProbe) -> bool:
    try:
        async with asyncio.timeout(probe.timeout_seconds):
            await probe.check()
    except Exception as error:
        _log.warning("health_probe_failed", probe=probe.name, error_type=type(error).__name__)
        return False
    return True


async def check_health(probes: Sequence[HealthProbe]) -> HealthReport:
    results = await asyncio.gather(*(_run(probe) for probe in probes))
    checks: dict[str, Literal["ok", "unavailable"]] = {
        probe.name: "ok" if healthy else "unavailable"
        for probe, healthy in zip(probes, results, strict=True)
    }
    return HealthReport(status="ok" if all(results) else "unavailable", checks=checks)


class DependencyUnavailableError(ExternalServiceError):
    code = "NOT_READY"
    title = "Not Ready"
    slug = "not-ready"
    description = "A dependency the service needs is unreachable; `checks` says which."
    default_retry_after = 5


def health_router(*, probes: Callable[[Request], Sequence[HealthProbe]]) -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get(
        "/live",
        summary="The process is up",
        description=(
            "200 while the process answers; it checks no dependency, so an outage elsewhere "
            "never restarts it. Anyone may call it (liveness probes)."
        ),
    )
    async def live() -> HealthReport:
        return HealthReport(status="ok", checks={})

    @router.get(
        "/ready",
        summary="Every dependency answers",
        description=(
            "Runs every dependency probe concurrently, each within its timeout, on every "
            "call: 200 when all answer, else 503 `NOT_READY` with `checks` naming those down, "
            "and `Retry-After`. Anyone may call it (readiness probes, load balancers)."
        ),
        responses=problem_responses(
            DependencyUnavailableError(
                "Unavailable: database.", details={"checks": {"database": "unavailable"}}
            )
        ),
        response_model=HealthReport,
    )
    async def ready(request: Request) -> Any:
        report = await check_health(probes(request))
        if report.status == "ok":
            return report
        down = ", ".join(name for name, state in report.checks.items() if state != "ok")
        error = DependencyUnavailableError(
            f"Unavailable: {down}.", details={"checks": report.checks}
        )
        response: Response = render_error(request, error)
        return response

    return router
