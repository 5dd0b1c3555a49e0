"""The composition root keeps every request off the slow paths of FastAPI.

FastAPI rebuilds the dependency graph of every route on every request while
``app.dependency_overrides`` holds anything (measured: the market list went
from 1.8 ms to 3.6 ms of CPU); authentication is wired through
``AccessControl`` instead, and overrides stay a testing tool. A plain ``def``
dependency runs in the thread pool: two thread switches per request for what
is usually an attribute lookup.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from markets.config import Settings
from markets.main import create_app


def test_the_app_sets_no_dependency_override() -> None:
    app = create_app(Settings(environment="test"))
    assert app.dependency_overrides == {}


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        call = dependency.call
        target = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__  # type: ignore[union-attr]
        if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            yield getattr(call, "__qualname__", repr(call))
        yield from _sync_dependencies(dependency)


def test_every_dependency_of_every_route_is_async() -> None:
    app = create_app(Settings(environment="test"))
    routes = list(_api_routes(app.router.routes))
    assert any(route.path == "/api/v1/markets" for route in routes)
    sync = {
        f"{sorted(route.methods)} {route.path}: {name}"
        for route in routes
        for name in _sync_dependencies(route.dependant)
    }
    assert sync == set()
