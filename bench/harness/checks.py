"""Every variant must answer the same rows: a benchmark of different work measures nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from harness.redis_traffic import measure_traffic
from harness.variants import Route, Variant, redis_url, route

__all__ = [
    "Answering",
    "Counting",
    "DifferentAnswersError",
    "MisconfiguredError",
    "check_cache",
    "check_limits_on_redis",
    "check_rate_limiting",
    "check_same_rows",
    "first_market_id",
]

_LIST, _GET, _META = route("list"), route("get"), route("meta")


class DifferentAnswersError(AssertionError):
    pass


class Answering(Protocol):
    """A variant that answers requests: a worker in process, or a server over HTTP."""

    @property
    def variant(self) -> Variant: ...

    def fetch(self, path: str, query: str) -> dict[str, Any]: ...


class Counting(Answering, Protocol):
    """A variant driven in process, which can tell the SQL statements of a request."""

    def count(self, path: str, query: str) -> list[str]: ...


class MisconfiguredError(AssertionError):
    """A variant is not what it claims to be: a ratio to it would measure something else."""


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


def _detail(variant: Variant, body: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = body["data"] if variant.in_main_env else body
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
            body = _body(worker, _GET, market_id)
            details[key] = _market(_detail(worker.variant, body), detail=True)
    reference = pages["markets"]
    if len(reference) != expected:
        raise DifferentAnswersError(f"markets listed {len(reference)} markets, not {expected}")
    for key, page in pages.items():
        if page != reference:
            raise DifferentAnswersError(f"{key} lists other rows than markets: {page[:1]}")
    for key, detail in details.items():
        if detail != details["markets"]:
            raise DifferentAnswersError(f"{key} reads another market than markets: {detail}")


def check_rate_limiting(variants: Mapping[str, Answering]) -> None:
    """Limited variants answer with ``RateLimit-Policy``, the others without."""
    for key, item in variants.items():
        if _META.key not in item.variant.routes:
            continue
        answer = item.fetch(*_META.target(""))
        limited = any(name.lower() == "ratelimit-policy" for name, _ in answer["headers"])
        if limited != item.variant.rate_limited:
            state = "limits" if limited else "does not limit"
            raise MisconfiguredError(f"{key} {state} {_META.path}: {answer['headers']}")


def check_cache(workers: Mapping[str, Counting], market_id: str) -> None:
    """A cached variant reads a market it has read before without a statement, and answers
    as it did the first time; an uncached one runs its statements again."""
    for key, worker in workers.items():
        if _GET.key not in worker.variant.routes or not worker.variant.in_main_env:
            continue
        first = _body(worker, _GET, market_id)
        statements = worker.count(*_GET.target(market_id))
        if (not statements) != worker.variant.cached:
            raise MisconfiguredError(
                f"{key} ran {len(statements)} statements reading a market a second time"
                f" (cache {'on' if worker.variant.cached else 'off'})"
            )
        again = _body(worker, _GET, market_id)
        if again != first:
            raise DifferentAnswersError(f"{key} answers {again}, having answered {first}")


def check_limits_on_redis(variants: Mapping[str, Answering]) -> None:
    """Variants limited on Redis send it an ``EVALSHA`` per request: a limiter that failed
    open (Redis unreachable) would answer 200 all the same."""
    path = _META.path
    for key, item in variants.items():
        if not item.variant.redis:
            continue

        def send(n: int, item: Answering = item) -> None:
            for _ in range(n):
                _body(item, _META, "")

        traffic = measure_traffic(redis_url(), send, requests=10, windows=2)
        if traffic.evalsha < 1:
            raise MisconfiguredError(
                f"{key}: {traffic.evalsha:.2f} EVALSHA per request to {path}, not one or more"
            )
