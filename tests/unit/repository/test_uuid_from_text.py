"""The driver path's UUID reader: ``uuid.UUID(text)`` exactly, whatever the column holds."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tiered.repository.driver_rows import _uuid_from_text

HEX = uuid.UUID("6f1c2a4e-93b0-4d6b-8c1e-2f7a9b0c5d13").hex

CASES = [
    HEX,
    HEX.upper(),
    "0" * 32,
    "f" * 32,
    "0x" + HEX[2:],  # int(…, 16) takes a prefix, and so does UUID
    HEX[:10] + "_" + HEX[11:],
    "\uff11" * 32,  # fullwidth digits: int() reads them, and so does UUID
    str(uuid.UUID(HEX)),
    "{" + str(uuid.UUID(HEX)) + "}",
    "urn:uuid:" + str(uuid.UUID(HEX)),
    HEX[:31],
    HEX + "0",
    "g" * 32,
    "+" + HEX[1:],
    "-" + HEX[1:],
    " " + HEX[1:],
    HEX[:16] + "\x00" + HEX[17:],
    "",
    "ü" * 32,
]


def _outcome(read: Callable[[str], object], text: str) -> object:
    try:
        return read(text)
    except Exception as error:
        return type(error)


@pytest.mark.parametrize("text", CASES)
def test_reads_what_uuid_reads_and_refuses_what_it_refuses(text: str) -> None:
    ours = _outcome(_uuid_from_text, text)
    assert ours == _outcome(uuid.UUID, text)
    if isinstance(ours, uuid.UUID):
        assert type(ours) is uuid.UUID
        assert (str(ours), ours.is_safe) == (str(uuid.UUID(text)), uuid.SafeUUID.unknown)


def test_null_stays_null() -> None:
    assert _uuid_from_text(None) is None
