"""Request bodies of the write routes: what they document is exactly what they accept."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from markets.api.schemas.markets import MarketCreate, MarketPatch
from markets.api.schemas.positions import AMOUNT_PATTERN, MAX_WHOLE_AMOUNT, PositionPurchase
from markets.domain.markets import NAME_PATTERN, MarketStatus
from markets.repositories.tables import MONEY
from markets.services.markets import MarketChanges


def test_a_patch_changes_only_the_members_sent() -> None:
    assert MarketPatch.model_validate({}).changes() == MarketChanges()
    assert MarketPatch.model_validate({"status": "closed"}).changes() == MarketChanges(
        status=MarketStatus.CLOSED
    )
    assert MarketPatch.model_validate({"description": ""}).changes() == MarketChanges(
        description=""
    )


@pytest.mark.parametrize("member", ["name", "description", "status"])
def test_a_patch_refuses_null(member: str) -> None:
    with pytest.raises(ValidationError) as refused:
        MarketPatch.model_validate({member: None})
    assert [error["loc"] for error in refused.value.errors()] == [(member,)]


def test_documented_schemas_have_no_null_or_default_for_absent_members() -> None:
    properties = MarketPatch.model_json_schema()["properties"]
    assert all("default" not in member and "anyOf" not in member for member in properties.values())
    assert MarketPatch.model_json_schema()["additionalProperties"] is False


@pytest.mark.parametrize("name", ["", " ", "\t", "a\nb", "a\x00", "x" * 201])
def test_names_outside_the_pattern_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        MarketCreate(name=name)


@settings(max_examples=300, derandomize=True)
@given(st.from_regex(NAME_PATTERN).filter(lambda name: len(name) <= 200))
def test_every_name_the_pattern_admits_is_accepted(name: str) -> None:
    assert MarketCreate(name=name).name == name


@settings(max_examples=300, derandomize=True)
@given(st.from_regex(AMOUNT_PATTERN))
def test_every_amount_the_pattern_admits_is_exact_and_positive(text: str) -> None:
    amount = PositionPurchase.model_validate({"side": "yes", "amount": text}).amount
    assert amount == Decimal(text) > 0
    assert MONEY.check(amount) == amount


@settings(max_examples=300, derandomize=True)
@given(st.integers(min_value=1, max_value=MAX_WHOLE_AMOUNT))
def test_every_whole_amount_in_range_is_accepted(whole: int) -> None:
    amount = PositionPurchase.model_validate({"side": "no", "amount": whole}).amount
    assert amount == whole
    assert MONEY.check(amount) == amount


@pytest.mark.parametrize("text", ["0", "0.0", "-1", "+1", "1.", "1.00001", "1e3", "01", ""])
def test_amount_texts_outside_the_pattern_are_refused(text: str) -> None:
    assert re.match(AMOUNT_PATTERN, text) is None
    with pytest.raises(ValidationError):
        PositionPurchase.model_validate({"side": "yes", "amount": text})
