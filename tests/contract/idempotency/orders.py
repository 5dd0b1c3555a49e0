"""A small ordering service whose routes take Idempotency-Key, for the idempotency tests.

``POST /orders`` requires a key; its ``item`` picks what the handler does
(hold until released, raise, fail once then succeed, refuse with a
problem, answer 503, stream, answer a large body), so each test drives one
behaviour. Every completed order is counted, so a test can tell a replay
from a second execution.
``POST /notes`` (a raw body) and ``POST /uploads`` (a form) require one too;
``POST /accounts/{account_id}/deposits`` takes an optional key. The caller is
named by ``X-User`` (and ``X-Api-Key`` for a key acting for that user).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Form, Header, UploadFile
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tiered.app import create_app
from tiered.errors import ConflictError, problem_responses
from tiered.idempotency import Idempotency, install_idempotency
from tiered.security import AnyPrincipal, Principal
from tiered.settings import AppSettings
from tiered.store import Store
from tiered.testing import app_client

KEY = {"Idempotency-Key": '"order-1"'}


class Order(BaseModel):
    item: str
    quantity: int = 1


class Deposit(BaseModel):
    amount: int


@dataclass
class OrdersState:
    """What the handlers did: completed orders by item, and the gate ``hold`` waits at."""

    runs: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    flaky_failures: int = 1
    started: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def completed(self) -> int:
        return sum(self.runs.values())


async def caller(
    x_user: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> AnyPrincipal | None:
    if x_user is None:
        return None
    if x_api_key is None:
        return Principal(x_user, "user", x_user, frozenset(), frozenset())
    return Principal(x_api_key, "api_key", x_user, frozenset(), frozenset())


def _chunks(count: int) -> Iterator[bytes]:
    for index in range(3):
        yield f'{{"part":{index},"order":{count}}}\n'.encode()


def orders_router(idempotency: Idempotency, state: OrdersState) -> APIRouter:
    router = APIRouter()
    # Defaults, not Annotated aliases: the annotations are strings, resolved in module globals.
    required_key = idempotency.key(required=True)
    optional_key = idempotency.key()

    @router.post(
        "/orders",
        status_code=201,
        responses=problem_responses(*idempotency.problems(required=True)),
    )
    async def place_order(order: Order, key: str | None = required_key) -> Response:
        state.attempts += 1
        if order.item == "hold":
            state.started.set()
            await state.gate.wait()
        if order.item == "boom":
            raise RuntimeError("the order could not be placed")
        if order.item == "flaky" and state.flaky_failures > 0:
            state.flaky_failures -= 1
            raise RuntimeError("a transient failure")
        if order.item == "refused":
            raise ConflictError("Out of stock.")
        if order.item == "unavailable":
            return JSONResponse({"retry": True}, status_code=503)
        state.runs[order.item] += 1
        count = state.completed
        if order.item == "stream":
            return StreamingResponse(_chunks(count), media_type="application/x-ndjson")
        if order.item == "large":
            return JSONResponse({"id": count, "padding": "x" * 4096}, status_code=201)
        body: dict[str, Any] = {"id": count, "item": order.item, "quantity": order.quantity}
        return JSONResponse(
            body,
            status_code=201,
            headers={
                "Location": f"/orders/{count}",
                "ETag": f'"order-{count}"',
                "X-Order-Count": str(count),
                "Link": f'</orders/{count}/receipt>; rel="receipt"',
            },
        )

    @router.post("/notes", status_code=201)
    async def add_note(request: Request, key: str | None = required_key) -> Response:
        """Reads its body itself, after the dependency has: nothing is lost to the fingerprint."""
        text = (await request.body()).decode()
        state.runs["note"] += 1
        return JSONResponse({"note": text, "n": state.completed}, status_code=201)

    @router.post("/uploads", status_code=201)
    async def upload(
        title: Annotated[str, Form()],
        file: UploadFile,
        key: str | None = required_key,
    ) -> dict[str, Any]:
        content = await file.read()
        state.runs["upload"] += 1
        return {"title": title, "size": len(content), "n": state.completed}

    @router.post("/accounts/{account_id}/deposits")
    async def deposit(
        account_id: int, body: Deposit, key: str | None = optional_key
    ) -> dict[str, Any]:
        state.runs[f"deposit:{account_id}"] += 1
        return {"account": account_id, "amount": body.amount, "key": key, "n": state.completed}

    return router


def orders_app(
    store: Store | None,
    state: OrdersState,
    *,
    install: bool = True,
    **options: Any,
) -> tuple[FastAPI, Idempotency]:
    idempotency = Idempotency(store, principal=caller, **options)
    settings = AppSettings(
        environment="test", database_url="sqlite+aiosqlite:///:memory:", log_level="WARNING"
    )
    app = create_app(settings, routers=[orders_router(idempotency, state)])
    if install:
        install_idempotency(app)
    return app, idempotency


@dataclass
class Served:
    app: FastAPI
    idempotency: Idempotency
    state: OrdersState
    client: httpx.AsyncClient


@asynccontextmanager
async def serve_orders(store: Store | None, **options: Any) -> AsyncIterator[Served]:
    state = OrdersState()
    app, idempotency = orders_app(store, state, **options)
    async with app_client(app) as client:
        yield Served(app, idempotency, state, client)
