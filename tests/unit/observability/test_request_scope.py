"""The request scope: one per request, restored on leaving, followed by tasks."""

from __future__ import annotations

import asyncio

from tiered.observability.request_scope import (
    RequestScope,
    StatementGuard,
    current_request,
    enter_request,
    leave_request,
)


def test_leaving_restores_the_scope_around_it() -> None:
    outer, inner = RequestScope("outer"), RequestScope("inner", StatementGuard(3))
    assert current_request() is None
    outer_token = enter_request(outer)
    inner_token = enter_request(inner)
    assert current_request() is inner
    leave_request(inner_token)
    assert current_request() is outer
    leave_request(outer_token)
    assert current_request() is None


def test_a_scope_has_no_recorder_until_its_first_statement() -> None:
    assert RequestScope("r", StatementGuard(5)).statements is None


async def test_concurrent_tasks_each_see_their_own_scope() -> None:
    async def handle(request_id: str) -> str | None:
        enter_request(RequestScope(request_id))
        await asyncio.sleep(0)
        seen = current_request()
        return None if seen is None else seen.request_id

    ids = [f"request-{index}" for index in range(20)]
    assert await asyncio.gather(*(handle(request_id) for request_id in ids)) == ids
    assert current_request() is None
