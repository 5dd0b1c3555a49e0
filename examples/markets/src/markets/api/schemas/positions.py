"""What clients send to buy a position: a side and an amount, nothing the server owns.

Amounts are exact: a decimal string (``"25.50"``) or a whole number, never a
binary float that would round on the way in. What the schema documents is
exactly what is accepted, so a client (or a fuzzer) never sees a value the
document admits refused.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from markets.domain.positions import Side

__all__ = ["AMOUNT_PATTERN", "MAX_WHOLE_AMOUNT", "PositionPurchase"]

MAX_WHOLE_AMOUNT = 10**14 - 1
"""14 digits before the decimal point and 4 after: the precision amounts are stored at."""

_FRACTION = r"(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])"
AMOUNT_PATTERN = rf"^(?:[1-9][0-9]{{0,13}}(?:\.[0-9]{{1,4}})?|0?\.{_FRACTION})$"
"""Greater than 0, up to 14 digits before the point and 4 after, no sign or exponent."""
_AMOUNT = re.compile(AMOUNT_PATTERN)


def _exact_amount(value: object) -> Decimal:
    if isinstance(value, str) and _AMOUNT.match(value):
        return Decimal(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WHOLE_AMOUNT:
        return Decimal(value)
    raise ValueError(
        "amount must be greater than 0 with at most 14 digits before the decimal point and "
        'at most 4 after it: a string such as "25.50", or a whole number'
    )


Amount = Annotated[
    Decimal,
    BeforeValidator(_exact_amount),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["25.50"]},
                {"type": "integer", "minimum": 1, "maximum": MAX_WHOLE_AMOUNT, "examples": [10]},
            ],
            "description": "Greater than 0, at most 4 decimal places: a decimal string "
            '(`"25.50"`) or a whole number.',
        }
    ),
]


class PositionPurchase(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"side": "yes", "amount": "25.50"}]},
    )

    side: Literal["yes", "no"] = Field(description="The outcome the position pays on.")
    amount: Amount

    def bought_side(self) -> Side:
        return Side(self.side)
