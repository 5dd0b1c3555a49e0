"""Column types that behave the same on every supported database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.exc import DontWrapMixin
from sqlalchemy.types import TypeDecorator, TypeEngine

from tiered.errors.hierarchy import ConfigurationError, InvalidInputError

__all__ = ["DecimalRangeError", "ExactDecimal", "UtcDateTime"]


_SQLITE_MAX_PRECISION = 18
"""Digits of a scaled value that always fit SQLite's signed 64-bit INTEGER (10**18 < 2**63)."""
_EXACT = Context(prec=1000, rounding=ROUND_HALF_EVEN)
"""Wide enough that no arithmetic here rounds, whatever the caller's decimal context."""


class DecimalRangeError(InvalidInputError, DontWrapMixin):
    """A value :class:`ExactDecimal` cannot store without changing it (400).

    ``DontWrapMixin`` lets it leave a statement as itself rather than inside a
    ``StatementError``, so a flush or ``execute`` raises the 400 directly.
    """


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal stored exactly, or refused; never rounded, on every database.

    PostgreSQL stores ``NUMERIC(precision, scale)``. SQLite has no decimal type
    (its NUMERIC is a float, so ``volume + 0.1`` drifts); there the value is a
    scaled integer, which keeps sums, comparisons and ``ORDER BY`` exact. SQL
    arithmetic such as ``column + :amount`` works on both because the bound
    value goes through the same conversion.

    A value with more decimal places than ``scale`` or more integer digits than
    ``precision - scale``, NaN or an infinity raises :class:`DecimalRangeError`
    (an ``InvalidInputError``) before any SQL runs, on both backends alike:
    rounding would silently change data, and SQLite would overflow where
    PostgreSQL accepts. ``precision`` is at most 18 because the scaled integer
    must fit SQLite's 64-bit integer. :meth:`check` applies the same rule
    anywhere, such as in a service that also runs on in-memory repositories.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = _SQLITE_MAX_PRECISION, scale: int = 4) -> None:
        if not (0 <= scale <= precision and 1 <= precision <= _SQLITE_MAX_PRECISION):
            raise ConfigurationError(
                f"ExactDecimal({precision}, {scale}) needs 0 <= scale <= precision <= "
                f"{_SQLITE_MAX_PRECISION}: on SQLite the value is a 64-bit scaled integer"
            )
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    @property
    def limits(self) -> str:
        """The accepted values, in words, for error messages and API docs."""
        integer_digits = self.precision - self.scale
        return (
            f"{integer_digits} digit{'s' if integer_digits != 1 else ''} before the "
            f"decimal point and {self.scale} after it"
        )

    def check(self, value: Decimal | int | float | str) -> Decimal:
        """``value`` at this type's scale, or :class:`DecimalRangeError` if it does not fit.

        Trailing zeros do not count (``1.50000`` fits a scale of 4); a float is
        taken by its shortest ``repr`` (``0.1`` is ``0.1``, not its binary value).
        """
        number = self._as_decimal(value)
        if not number.is_finite():
            raise self._refuse(value, "is not a finite number")
        if number and number.adjusted() >= self.precision - self.scale:
            raise self._refuse(value, "is too large")
        exact = number.quantize(self._quantum, context=_EXACT)
        if exact != number:
            raise self._refuse(value, f"has more than {self.scale} decimal places")
        return exact if exact else exact.copy_abs()

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = self.check(value)
        return int(exact.scaleb(self.scale, _EXACT)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale, _EXACT)
        return Decimal(value).quantize(self._quantum, context=_EXACT)

    def _as_decimal(self, value: Any) -> Decimal:
        if isinstance(value, Decimal):
            return value
        if isinstance(value, int | str) and not isinstance(value, bool):
            try:
                return Decimal(value)
            except InvalidOperation:
                pass
        elif isinstance(value, float):
            return Decimal(repr(value))
        raise self._refuse(value, "is not a decimal number")

    def _refuse(self, value: Any, reason: str) -> DecimalRangeError:
        shown = repr(value) if isinstance(value, str) else str(value)
        return DecimalRangeError(
            f"{shown[:40]} {reason}: at most {self.limits} are allowed.",
            details={"precision": self.precision, "scale": self.scale},
        )


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database.

    PostgreSQL keeps the zone (``timestamptz``); SQLite keeps none and returns
    naive values. Values are converted to UTC on the way in and come back
    aware on the way out, so comparisons and JSON (``…Z``/``+00:00``) agree
    across backends. A naive value is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("UtcDateTime needs a timezone-aware datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, the stored text parsed straight into an aware datetime.

        SQLAlchemy's SQLite processor parses with a regular expression and this
        type then sets the zone: about 0.8 µs a value, several per row of a
        list. ``datetime.fromisoformat`` of the text with its zone appended does
        both in a tenth of that, and also reads ISO text other tools wrote
        (``T`` separator, date only, an offset of its own).
        """
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        general = super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if not isinstance(value, str):
                return general(value) if general is not None else value
            try:
                parsed = _fromisoformat(value + "+00:00")
            except ValueError:  # the text has a zone of its own
                parsed = _fromisoformat(value)
            if parsed.tzinfo is UTC:
                return parsed
            # A date alone ignores the zone appended to it.
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process


_fromisoformat = datetime.fromisoformat
