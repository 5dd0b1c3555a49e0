"""The OpenAPI document: which operations take a key, how long replays last, the problems."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.contract.idempotency.orders import OrdersState, orders_app

from tiered.store import MemoryStore
from tiered.testing import app_client


def _spec(**options: Any) -> dict[str, Any]:
    app, _ = orders_app(MemoryStore(), OrdersState(), **options)
    spec: dict[str, Any] = app.openapi()
    assert app.openapi() is spec, "the document is built once"
    return spec


def _key_parameter(operation: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        p for p in operation["parameters"] if p["name"] == "Idempotency-Key"
    ]
    assert len(found) == 1
    return found[0]


def _examples(operation: dict[str, Any], status: str) -> dict[str, Any]:
    examples: dict[str, Any] = operation["responses"][status]["content"][
        "application/problem+json"
    ]["examples"]
    return examples


def test_a_required_key_is_a_required_header_with_its_syntax() -> None:
    operation = _spec()["paths"]["/orders"]["post"]
    parameter = _key_parameter(operation)
    assert parameter["in"] == "header"
    assert parameter["required"] is True
    assert parameter["schema"]["type"] == "string"
    assert parameter["schema"]["pattern"].startswith("^")
    assert "for 24 hours after it was sent" in parameter["description"]
    assert "a request without one is a 400" in parameter["description"]


def test_an_optional_key_is_documented_as_optional() -> None:
    operation = _spec()["paths"]["/accounts/{account_id}/deposits"]["post"]
    parameter = _key_parameter(operation)
    assert parameter["required"] is False
    assert "a request without one is a 400" not in parameter["description"]


def test_the_retention_published_is_the_configured_one() -> None:
    operation = _spec(ttl=timedelta(days=7))["paths"]["/orders"]["post"]
    assert "for 7 days after it was sent" in _key_parameter(operation)["description"]


def test_success_responses_declare_the_replay_marker() -> None:
    responses = _spec()["paths"]["/orders"]["post"]["responses"]
    assert responses["201"]["headers"]["Idempotent-Replayed"]["schema"]["enum"] == ["true"]
    assert (
        "headers" not in responses["400"]
        or "Idempotent-Replayed" not in responses["400"]["headers"]
    )


@pytest.mark.parametrize(
    ("status", "codes"),
    [
        ("400", {"IDEMPOTENCY_KEY_MISSING", "INVALID_IDEMPOTENCY_KEY"}),
        ("409", {"IDEMPOTENCY_KEY_IN_USE"}),
        ("422", {"IDEMPOTENCY_KEY_REUSED"}),
    ],
)
def test_the_problems_are_declared_with_the_problem_schema(status: str, codes: set[str]) -> None:
    operation = _spec()["paths"]["/orders"]["post"]
    media = operation["responses"][status]["content"]["application/problem+json"]
    assert media["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
    assert {example["value"]["code"] for example in _examples(operation, status).values()} >= codes


def test_the_409_declares_retry_after() -> None:
    operation = _spec()["paths"]["/orders"]["post"]
    assert "Retry-After" in operation["responses"]["409"]["headers"]


def test_other_operations_are_untouched() -> None:
    spec = _spec()
    for path, item in spec["paths"].items():
        if path in {"/orders", "/notes", "/uploads", "/accounts/{account_id}/deposits"}:
            continue
        for operation in item.values():
            names = [p["name"] for p in operation.get("parameters", [])]
            assert "Idempotency-Key" not in names, path


async def test_every_problem_type_has_its_page() -> None:
    app, _ = orders_app(MemoryStore(), OrdersState())
    async with app_client(app) as client:
        for slug in (
            "idempotency-key-missing",
            "invalid-idempotency-key",
            "idempotency-key-in-use",
            "idempotency-key-reused",
        ):
            page = await client.get(f"/problems/{slug}")
            assert page.status_code == 200, slug
