"""Reading markets from CSV text: the columns, then each row checked on its own.

The first record names the columns: ``name`` (required), ``description`` and
``status`` (``draft`` or ``active``, default ``draft``), in any order and
case. A file whose columns are wrong is refused as a whole (at upload, so the
client learns at once); a row that breaks a rule is reported with its number
and left out, and the other rows are imported. Rows are numbered as a
spreadsheet shows them: the header is row 1.

This is CPU work on up to the upload limit of text: callers run it in a
thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from markets.domain.errors import ImportFileError
from markets.domain.markets import (
    DESCRIPTION_MAX,
    DESCRIPTION_PATTERN,
    NAME_MAX,
    NAME_PATTERN,
    MarketStatus,
)
from markets.services.markets import MarketDraft

__all__ = [
    "COLUMNS",
    "MAX_REPORTED_ERRORS",
    "ParsedRows",
    "RowError",
    "decode_csv",
    "parse_market_rows",
]

COLUMNS = ("name", "description", "status")
MAX_REPORTED_ERRORS = 1000
"""Row errors kept in a job's result; the count of rejected rows is always exact."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class ParsedRows:
    rows: int
    """Data rows read (blank lines aside)."""
    drafts: tuple[MarketDraft, ...]
    rejected: int
    errors: tuple[RowError, ...]
    """The first :data:`MAX_REPORTED_ERRORS` problems, in file order."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", regex_engine="python-re", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]
    description: Annotated[str, Field(max_length=DESCRIPTION_MAX, pattern=DESCRIPTION_PATTERN)] = ""
    status: Literal["draft", "active"] = "draft"


def decode_csv(data: bytes) -> str:
    """The file as text, its columns checked: an :class:`ImportFileError` if it is not one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("it is not UTF-8 text") from None
    _columns(csv.reader(io.StringIO(text, newline="")))
    return text


def _columns(reader: Iterator[list[str]]) -> tuple[str, ...]:
    try:
        header = next((record for record in reader if record), None)
    except csv.Error as error:
        raise ImportFileError(f"its first line is not CSV ({error})") from None
    if header is None:
        raise ImportFileError("it is empty; its first line must name the columns")
    columns = tuple(cell.strip().lower() for cell in header)
    unknown = sorted({column for column in columns if column not in COLUMNS})
    if unknown:
        raise ImportFileError(
            f"unknown column(s) {', '.join(repr(column) for column in unknown)}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    if len(set(columns)) != len(columns):
        raise ImportFileError("a column is named twice")
    if "name" not in columns:
        raise ImportFileError("the column 'name' is missing")
    return columns


def parse_market_rows(text: str) -> ParsedRows:
    """Every row of ``text`` (already checked by :func:`decode_csv`), checked."""
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = _columns(reader)
    drafts: list[MarketDraft] = []
    errors: list[RowError] = []
    rows = rejected = 0
    number = 1
    while True:
        try:
            record = next(reader, None)
        except csv.Error as error:
            rows += 1
            rejected += 1
            errors.append(RowError(number + 1, None, f"unreadable, and so is the rest ({error})"))
            break
        if record is None:
            break
        number += 1
        if not record:
            continue
        rows += 1
        problems = _check(number, columns, record)
        if isinstance(problems, MarketDraft):
            drafts.append(problems)
            continue
        rejected += 1
        errors.extend(problems[: max(0, MAX_REPORTED_ERRORS - len(errors))])
    return ParsedRows(rows, tuple(drafts), rejected, tuple(errors))


def _check(
    number: int, columns: tuple[str, ...], record: list[str]
) -> MarketDraft | list[RowError]:
    if len(record) != len(columns):
        detail = f"has {len(record)} fields; the header names {len(columns)}"
        return [RowError(number, None, detail)]
    values = dict(zip(columns, record, strict=True))
    if values.get("status") == "":
        del values["status"]
    try:
        row = _Row.model_validate(values)
    except ValidationError as error:
        return [
            RowError(number, str(item["loc"][0]) if item["loc"] else None, item["msg"])
            for item in error.errors(include_url=False)
        ]
    return MarketDraft(row.name, row.description, MarketStatus(row.status))
