"""Reading markets from CSV: the columns refuse a file, a bad row is reported and skipped."""

from __future__ import annotations

import pytest

from markets.domain.errors import ImportFileError
from markets.domain.markets import MarketStatus
from markets.services.market_rows import (
    MAX_REPORTED_ERRORS,
    RowError,
    decode_csv,
    parse_market_rows,
)


def test_valid_rows_become_drafts_in_file_order() -> None:
    text = decode_csv(
        "\ufeffStatus, NAME ,description\r\n"
        'active,Rain?,"Resolves YES if it rains,\nanywhere."\r\n'
        "\r\n"
        ",Snow?,\r\n".encode()
    )
    parsed = parse_market_rows(text)
    assert (parsed.rows, parsed.rejected, parsed.errors) == (2, 0, ())
    assert [(d.name, d.description, d.status) for d in parsed.drafts] == [
        ("Rain?", "Resolves YES if it rains,\nanywhere.", MarketStatus.ACTIVE),
        ("Snow?", "", MarketStatus.DRAFT),
    ]


def test_each_bad_row_is_reported_with_its_number_and_column() -> None:
    text = "\n".join(
        [
            "name,status",
            "Fine?,draft",  # row 2
            ",active",  # 3: blank name
            f"{'x' * 201},draft",  # 4: too long
            "Closed?,closed",  # 5: not an initial status
            "Extra?,draft,surplus",  # 6: a field too many
            "Bell\x07?,draft",  # 7: a control character
            "Also fine?,",  # 8
        ]
    )
    parsed = parse_market_rows(text)
    assert [draft.name for draft in parsed.drafts] == ["Fine?", "Also fine?"]
    assert (parsed.rows, parsed.rejected) == (7, 5)
    assert [(error.row, error.column) for error in parsed.errors] == [
        (3, "name"),
        (4, "name"),
        (5, "status"),
        (6, None),
        (7, "name"),
    ]
    assert parsed.errors[3] == RowError(6, None, "has 3 fields; the header names 2")


def test_only_the_first_errors_are_kept_but_every_rejection_is_counted() -> None:
    rows = ["name"] + ['""'] * (MAX_REPORTED_ERRORS + 5)
    parsed = parse_market_rows("\n".join(rows))
    assert parsed.rejected == MAX_REPORTED_ERRORS + 5
    assert len(parsed.errors) == MAX_REPORTED_ERRORS


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "it is empty"),
        (b"\n\n", "it is empty"),
        (b"title,status\nRain?,draft\n", "unknown column(s) 'title'"),
        (b"description\nwet\n", "the column 'name' is missing"),
        (b"name,Name\na,b\n", "a column is named twice"),
        ("name\nPluie\xa0?\n".encode("latin-1"), "it is not UTF-8 text"),
    ],
)
def test_a_file_with_the_wrong_columns_is_refused_whole(content: bytes, reason: str) -> None:
    with pytest.raises(ImportFileError) as refused:
        decode_csv(content)
    assert reason in refused.value.message
    assert refused.value.status == 422
