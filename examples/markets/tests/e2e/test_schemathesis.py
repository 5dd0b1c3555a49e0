"""schemathesis, with every check and every phase, finds the markets API true to its document.

The test drives schemathesis's engine, the one ``st run`` uses, so every phase
runs: the document's examples, coverage (boundary values, unexpected methods,
duplicated parameters), fuzzing with valid and invalid data, and stateful
sequences that feed one response's values into the next request; the pytest
plugin runs no stateful phase. The app runs in process (ASGI) on a temporary
SQLite database holding the demo data set and the market the documentation's
examples show, so requests reach real rows. The run is bounded
(``max-examples`` per operation) and deterministic (derandomized, fixed seed):
a failure is a finding, not noise, and the report prints each one with the
answer and a ``curl`` line that reproduces it.

One exclusion, and only one: :func:`_refused_for_a_forged_cursor`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis.core.failures import Failure
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.python import asgi

from markets.config import Settings
from markets.domain.markets import Market, MarketStatus
from markets.main import create_app
from markets.migrate import upgrade
from markets.repositories.markets import MarketRepository
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.demo_data import DemoSize, seed_demo
from markets.services.read_models import EXAMPLE_MARKET_ID
from tiered.db import Database
from tiered.errors import InvalidInputError
from tiered.repository import parse_sort

CONFIG: dict[str, Any] = {
    "seed": 20250301,
    "generation": {"mode": "all", "max-examples": 40, "deterministic": True},
    "checks": {"enabled": True},
}
"""Positive and negative data, every check (``max_response_time`` alone needs a limit to run)."""


async def _seed(url: str) -> None:
    """The demo data set, and the market the documentation's examples read."""
    database = Database.from_settings(Settings(environment="test", database_url=url))

    def new_uow() -> MarketsUnitOfWork:
        return MarketsUnitOfWork(database.sessionmaker)

    try:
        await seed_demo(new_uow, DemoSize(users=5, markets=30, positions=60))
        async with new_uow() as uow:
            (creator,) = await uow.users.list_paginated(0, 1)
            await uow.markets.create(
                Market(
                    UUID(EXAMPLE_MARKET_ID),
                    "Will the documented example market be found?",
                    creator.id,
                    status=MarketStatus.ACTIVE,
                )
            )
    finally:
        await database.dispose()


def _refused_for_a_forged_cursor(
    context: schemathesis.HookContext,
    failure: Failure,
    case: schemathesis.Case[Any],
    response: schemathesis.Response,
) -> bool:
    """Keep every failure except a 400 for a cursor the service never issued.

    A cursor is signed and bound to its query, so a schema can describe its
    form (alphabet, length) but not its validity: every cursor a generator
    writes, however well formed, is refused with 400 ``INVALID_CURSOR``, and so
    is ``offset`` sent with ``cursor`` (``INVALID_PAGE``), a pairing no
    parameter schema can forbid. ``positive_data_acceptance`` counts both as
    schema-valid data rejected. Only that check, only a 400, only for a
    request carrying a cursor, only with those two codes, is let through;
    anything else about the same request (a 500, a body off its schema, a
    missing header) still fails. Real cursors are exercised in
    ``test_markets_api.py``.
    """
    del context
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    query = case.query or {}
    if not query.get("cursor"):
        return True
    code = json.loads(response.content).get("code")
    with_offset = query.get("offset") is not None
    return not (code == "INVALID_CURSOR" or (code == "INVALID_PAGE" and with_offset))


@pytest.fixture
def markets_api(tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'markets.db'}"
    upgrade(url)
    asyncio.run(_seed(url))
    app = create_app(Settings(environment="test", database_url=url, log_level="WARNING"))
    config = schemathesis.Config.from_dict(CONFIG)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    schema.hook("filter_failure")(_refused_for_a_forged_cursor)
    try:
        yield schema
    finally:
        asgi.shutdown_lifespans()


def _clip(text: str, width: int = 400) -> str:
    """Each line at most ``width`` characters: a generated value can run to kilobytes."""
    return "\n".join(
        line if len(line) <= width else f"{line[:width]}… ({len(line)} characters)"
        for line in text.splitlines()
    )


def _describe(event: events.ScenarioFinished) -> Iterator[str]:
    for case_id, checks in event.recorder.checks.items():
        interaction = event.recorder.interactions.get(case_id)
        response = interaction.response if interaction is not None else None
        for check in checks:
            if check.failure_info is None:
                continue
            failure = check.failure_info.failure
            answer = ""
            if response is not None:
                body = response.content[:600].decode(errors="replace")
                answer = f"\n  answered {response.status_code}: {body}"
            yield _clip(
                f"{failure.operation} [{event.phase.value}] {check.name}: {failure.title}\n  "
                + failure.message.replace("\n", "\n  ")
                + answer
                + "\n  "
                + check.failure_info.code_sample.replace("\n", "\n  ")
            )


def test_schemathesis_finds_every_operation_conformant(
    markets_api: schemathesis.BaseSchema,
) -> None:
    findings: list[str] = []
    finished: events.EngineFinished | None = None
    for event in from_schema(markets_api).execute():
        if isinstance(event, events.ScenarioFinished):
            findings.extend(_describe(event))
        elif isinstance(event, events.NonFatalError):
            findings.append(f"{event.label} [{event.phase}] error: {event.value!r}")
        elif isinstance(event, events.FatalError):
            findings.append(f"engine error: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            finished = event
            findings.extend(f"after the run: {failure}" for failure in event.failures)
    assert finished is not None
    assert not findings, f"{len(findings)} finding(s):\n\n" + "\n\n".join(findings)


@pytest.fixture(scope="module")
def sort_pattern() -> str:
    """The ``pattern`` the markets document gives ``sort``."""
    app = create_app(Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:"))
    parameters = app.openapi()["paths"]["/api/v1/markets"]["get"]["parameters"]
    (sort,) = [parameter for parameter in parameters if parameter["name"] == "sort"]
    (text,) = [option for option in sort["schema"]["anyOf"] if option.get("type") == "string"]
    pattern: str = text["pattern"]
    return pattern


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = st.text(st.sampled_from(" \u00a0\u0085\u2028\u3000\ufeff\u200b"), max_size=2)
_TOKEN = st.tuples(
    _SPACES,
    st.sampled_from(["", "-", "+", "-+", "+-", "--"]),
    st.sampled_from(["created_at", "name", "volume", "nam", "volumes", "id", ""]),
    _SPACES,
).map("".join)


def _accepted(value: str) -> bool:
    try:
        parse_sort(value, MarketRepository.sort_fields)
    except InvalidInputError:
        return False
    return True


@settings(max_examples=500, derandomize=True)
@given(value=st.lists(_TOKEN, max_size=4).map(",".join) | st.text(max_size=16))
def test_the_documented_sort_pattern_is_exactly_what_the_list_accepts(
    sort_pattern: str, value: str
) -> None:
    """Fuzzers trust the pattern both ways: what it admits must be served, the rest refused.

    Control characters are refused before ``sort`` is parsed, and the pattern admits none.
    """
    matches = re.fullmatch(sort_pattern, value) is not None
    if _CONTROL.search(value):
        assert not matches
    else:
        assert matches == _accepted(value), value
