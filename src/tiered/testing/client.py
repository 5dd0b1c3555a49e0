"""An HTTP client speaking to an app in process, with its lifespan running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.types import ASGIApp

__all__ = ["app_client"]


@asynccontextmanager
async def app_client(
    app: ASGIApp, *, base_url: str = "http://testserver", raise_app_exceptions: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan, yield a client, shut the app down on exit.

    Unhandled app exceptions become 500 responses (as in production) unless
    ``raise_app_exceptions`` asks for them to propagate.
    """
    from asgi_lifespan import LifespanManager  # the `tiered[testing]` extra

    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
