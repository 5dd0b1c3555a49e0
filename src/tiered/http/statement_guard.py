"""Per-request N+1 guard: one statement shape repeating too often fails the request.

In development and tests the request fails (a 500 problem with code
``REPEATED_STATEMENT``) so the N+1 is fixed before it ships; in production the
statement is logged once instead and the request proceeds.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tiered.db.statements import record_statements

__all__ = ["StatementGuardMiddleware"]


class StatementGuardMiddleware:
    def __init__(self, app: ASGIApp, *, threshold: int, strict: bool) -> None:
        self.app = app
        self.threshold = threshold
        self.strict = strict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with record_statements(self.threshold, strict=self.strict):
            await self.app(scope, receive, send)
