"""Every variant must answer the same rows: a benchmark of different work measures nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from harness.variants import ROUTES, Route, Variant

__all__ = ["Answering", "DifferentAnswersError", "check_same_rows", "first_market_id"]

_LIST, _GET = ROUTES[0], ROUTES[1]


class DifferentAnswersError(AssertionError):
    pass


class Answering(Protocol):
    """A variant that answers requests: a worker in process, or a server over HTTP."""

    @property
    def variant(self) -> Variant: ...

    def fetch(self, path: str, query: str) -> dict[str, Any]: ...


def _market(item: dict[str, Any], *, detail: bool) -> tuple[Any, ...]:
    fields: tuple[Any, ...] = (
        item["id"],
        item["name"],
        item["status"],
        item["outcome"],
        Decimal(item["volume"]),
        datetime.fromisoformat(item["created_at"]),
        datetime.fromisoformat(item["updated_at"]),
        item["creator"]["id"],
        item["creator"]["display_name"],
    )
    return (*fields, item["description"], item["version"]) if detail else fields


def _body(worker: Answering, route: Route, market_id: str) -> Any:
    answer = worker.fetch(*route.target(market_id))
    if answer["status"] != 200:
        raise DifferentAnswersError(
            f"{worker.variant.key}: {route.url(market_id)} answered {answer['status']}: "
            f"{answer['body'][:500]}"
        )
    return json.loads(answer["body"])


def _page(key: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body["items"] if key == "litestar" else body["data"]
    return items


def _detail(key: str, body: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = body["data"] if key == "markets" else body
    return detail


def first_market_id(markets: Answering) -> str:
    """The newest visible market: what ``GET /api/v1/markets/{id}`` reads."""
    market_id: str = _page("markets", _body(markets, _LIST, ""))[0]["id"]
    return market_id


def check_same_rows(
    workers: Mapping[str, Answering], market_id: str, *, expected: int = 50
) -> None:
    """The list and the read answer the same markets, field for field, in every variant."""
    pages: dict[str, list[tuple[Any, ...]]] = {}
    details: dict[str, tuple[Any, ...]] = {}
    for key, worker in workers.items():
        if _LIST.key in worker.variant.routes:
            items = _page(key, _body(worker, _LIST, market_id))
            pages[key] = [_market(item, detail=False) for item in items]
        if _GET.key in worker.variant.routes:
            details[key] = _market(_detail(key, _body(worker, _GET, market_id)), detail=True)
    reference = pages["markets"]
    if len(reference) != expected:
        raise DifferentAnswersError(f"markets listed {len(reference)} markets, not {expected}")
    for key, page in pages.items():
        if page != reference:
            raise DifferentAnswersError(f"{key} lists other rows than markets: {page[:1]}")
    for key, detail in details.items():
        if detail != details["markets"]:
            raise DifferentAnswersError(f"{key} reads another market than markets: {detail}")
