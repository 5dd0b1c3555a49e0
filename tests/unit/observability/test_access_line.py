"""log_request: the access line's fast path writes what the pipeline would write."""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

import pytest
import structlog

from tiered.observability import configure_logging, get_logger
from tiered.observability.logging import log_request

pytestmark = pytest.mark.usefixtures("isolated_logging")

TOKEN = "tk_AbCdEfGh_0123456789abcdefghijklmnopqrstuv"


def _fields(path: str = "/health/live") -> dict[str, Any]:
    return {
        "method": "GET",
        "path": path,
        "status": 200,
        "duration_ms": 0.25,
        "client": "127.0.0.1",
        "request_id": "abc123",
    }


def _records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_fast_line_matches_the_pipelines_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=True)
    log_request(**_fields())
    structlog.contextvars.bind_contextvars(request_id="abc123")
    try:
        get_logger("tiered.access").info("request", **{**_fields(), "request_id": "abc123"})
    finally:
        structlog.contextvars.clear_contextvars()
    fast, slow = _records(capsys)
    assert fast.keys() == slow.keys()
    del fast["timestamp"], slow["timestamp"]
    assert fast == slow
    assert fast["logger"] == "tiered.access"
    assert fast["level"] == "info"


def test_fast_line_masks_a_credential_in_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=True)
    log_request(**_fields(f"/keys/{TOKEN}"))
    (record,) = _records(capsys)
    assert TOKEN not in json.dumps(record)
    assert record["path"].startswith("/keys/")


def test_timestamp_is_utc_iso_with_z(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=True)
    log_request(**_fields())
    (record,) = _records(capsys)
    assert record["timestamp"].endswith("Z")
    assert "+00:00" not in record["timestamp"]


def test_nothing_below_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="WARNING", json=True)
    log_request(**_fields())
    assert capsys.readouterr().out == ""


def test_captured_logs_see_the_line() -> None:
    configure_logging(level="INFO", json=True)
    with structlog.testing.capture_logs() as captured:
        log_request(**_fields())
    assert [entry["event"] for entry in captured] == ["request"]
    assert captured[0]["path"] == "/health/live"


def test_console_mode_takes_the_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", json=False)
    log_request(**_fields(f"/keys/{TOKEN}"))
    out = capsys.readouterr().out
    assert "request" in out
    assert "/keys/" in out
    assert TOKEN not in out


def test_lines_go_to_stdouts_descriptor_in_order(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging(level="INFO", json=True)
    # Block-buffered, as stdout is when it is a file or a pipe.
    buffered = io.TextIOWrapper(io.FileIO(os.dup(1), "w"), line_buffering=False)
    monkeypatch.setattr(sys, "stdout", buffered)
    print("first")
    log_request(**_fields("/one"))
    print("between")
    get_logger("app").info("second")
    log_request(**_fields("/two"))
    buffered.flush()
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == "first"
    assert json.loads(lines[1])["path"] == "/one"
    assert lines[2] == "between", "what was printed before a line is written before it"
    assert json.loads(lines[3])["event"] == "second"
    assert json.loads(lines[4])["path"] == "/two"
    buffered.close()
