from __future__ import annotations

import pytest

from tiered.envelope import ApiResponse, PageMeta
from tiered.results import Err, Ok, Result, UnwrapError


def divide(a: int, b: int) -> Result[float, ZeroDivisionError]:
    if b == 0:
        return Err(ZeroDivisionError("b is zero"))
    return Ok(a / b)


def test_ok_carries_value() -> None:
    result = divide(6, 3)
    assert result.success is True
    assert result.value == 2.0
    with pytest.raises(UnwrapError):
        _ = result.error


def test_err_carries_error() -> None:
    result = divide(1, 0)
    assert result.success is False
    assert isinstance(result.error, ZeroDivisionError)
    with pytest.raises(UnwrapError) as raised:
        _ = result.value
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_results_match_structurally() -> None:
    match divide(1, 0):
        case Ok(value):
            outcome = f"ok {value}"
        case Err(error):
            outcome = f"err {error}"
    assert outcome == "err b is zero"


def test_results_are_slotted_and_immutable() -> None:
    result = Ok(1)
    assert not hasattr(result, "__dict__")
    with pytest.raises(AttributeError):
        result.value = 2  # type: ignore[misc]


def test_envelope_shape() -> None:
    body = ApiResponse.of([1, 2], PageMeta(total=2, limit=50, offset=0)).model_dump()
    assert body == {
        "success": True,
        "data": [1, 2],
        "meta": {"total": 2, "limit": 50, "offset": 0, "next_cursor": None},
    }
    assert ApiResponse.of("x").model_dump() == {"success": True, "data": "x", "meta": None}
