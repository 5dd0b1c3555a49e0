"""configure_logging: one redacting JSON pipeline for structlog and stdlib loggers."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import BaseModel, ValidationError

from tiered.observability import configure_logging, get_logger
from tiered.observability.logging import bind_request_id, reset_request_id
from tiered.observability.request_scope import (
    RequestScope,
    enter_request,
    leave_request,
    record_principal,
)

GUIDE = Path(__file__).parents[3] / "docs" / "logging.md"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXZhbHVl"


pytestmark = pytest.mark.usefixtures("isolated_logging")


@dataclasses.dataclass
class Creds:
    user: str
    password: str


@dataclasses.dataclass(slots=True, frozen=True)
class ApiKey:
    owner: str
    api_key: str


class Login(BaseModel):
    username: str
    password: str


class StrictLogin(BaseModel):
    password: int


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def _records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _lines(capsys)]


def test_json_mode_writes_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    log = get_logger("app.orders")

    log.info("order placed", order_id=42)
    log.warning("stock low", remaining=3)

    first, second = _records(capsys)
    assert first["event"] == "order placed"
    assert first["order_id"] == 42
    assert first["level"] == "info"
    assert first["logger"] == "app.orders"
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert second["level"] == "warning"


def test_get_logger_defaults_to_the_callers_module(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()

    get_logger().info("hi")

    assert _records(capsys)[0]["logger"] == __name__


def test_the_request_id_is_on_every_line_of_its_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    log = get_logger("app")

    token = bind_request_id("req-456")
    log.info("inside")
    logging.getLogger("sqlalchemy.engine").warning("slow query")
    log.info("named", request_id="its-own")
    reset_request_id(token)
    log.info("outside")

    inside, stdlib_line, named, outside = _records(capsys)
    assert inside["request_id"] == stdlib_line["request_id"] == "req-456"
    assert named["request_id"] == "its-own"
    assert "request_id" not in outside


def test_contextvars_are_merged_into_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    log = get_logger("app")

    structlog.contextvars.bind_contextvars(request_id="req-123")
    log.info("inside")
    logging.getLogger("sqlalchemy.engine").warning("slow query")
    structlog.contextvars.clear_contextvars()
    log.info("outside")

    inside, stdlib_line, outside = _records(capsys)
    assert inside["request_id"] == "req-123"
    assert stdlib_line["request_id"] == "req-123"
    assert "request_id" not in outside


def test_stdlib_lines_are_rendered_as_json_and_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()

    logging.getLogger("x").warning("calling %s with %s", "/cb?token=t0ps3cret", "Bearer abc123")

    (line,) = _lines(capsys)
    record = json.loads(line)
    assert record["level"] == "warning"
    assert record["logger"] == "x"
    assert "timestamp" in record
    assert "t0ps3cret" not in line
    assert "abc123" not in line


def test_uvicorn_lines_go_through_the_pipeline_and_access_log_is_silenced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error_logger = logging.getLogger("uvicorn.error")
    error_logger.addHandler(logging.StreamHandler())  # what uvicorn's dictConfig installs
    error_logger.propagate = False
    configure_logging()

    error_logger.info("Started server process")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')

    (record,) = _records(capsys)
    assert record["logger"] == "uvicorn.error"
    assert record["event"] == "Started server process"
    assert error_logger.handlers == []
    assert logging.getLogger("uvicorn.access").level == logging.WARNING


def test_secrets_never_reach_the_output(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    log = get_logger("app")
    secrets = [
        "hunter2",
        "dXNlcjpwYXNz",
        "abc-bearer-value",
        "list-token-value",
        "supersecretvalue",
        JWT,
        "eyJhbGciOiJIUzI1NiJ9",
    ]

    log.info(
        "calling upstream",
        password="hunter2",
        Authorization="Basic dXNlcjpwYXNz",
        request={"headers": {"authorization": "Bearer abc-bearer-value"}},
        tokens=[{"token": "list-token-value"}],
        note="tk_abcd1234_supersecretvalue",
        x=JWT,
    )

    (line,) = _lines(capsys)
    for secret in secrets:
        assert secret not in line
    record = json.loads(line)
    assert record["note"] == "tk_abcd1234_[REDACTED]"
    assert record["request"] == {"headers": {"authorization": "[REDACTED]"}}


def test_caller_objects_are_not_mutated_by_logging(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    headers = {"authorization": "Bearer abc"}

    get_logger("app").info("request", headers=headers)

    assert headers == {"authorization": "Bearer abc"}
    assert "abc" not in capsys.readouterr().out


def test_unserializable_objects_are_rendered_and_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Client:
        def __repr__(self) -> str:
            return "Client(upstream='Bearer abc123', password='hunter2')"

    configure_logging()

    get_logger("app").info("client", client=Client(), ids={3}, big=2**70)

    (record,) = _records(capsys)
    assert record["client"] == "Client(upstream='Bearer [REDACTED]', password='[REDACTED]')"
    assert record["ids"] == [3]
    assert record["big"] == 2**70


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "console"])
def test_objects_are_redacted_before_either_renderer(
    json_mode: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """orjson would serialise a dataclass itself and the console renderer would `repr` it."""
    configure_logging(json=json_mode)

    get_logger("app").info(
        "objects",
        creds=Creds(user="alice", password="hunter2"),
        key=ApiKey(owner="bob", api_key="k-123456"),
        login=Login(username="carol", password="pydantic-pw"),
    )

    out = capsys.readouterr().out
    for secret in ("hunter2", "k-123456", "pydantic-pw"):
        assert secret not in out
    for name in ("alice", "bob", "carol"):
        assert name in out


def test_objects_are_logged_as_plain_dicts_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()

    get_logger("app").info("login", creds=Creds(user="alice", password="hunter2"))

    (record,) = _records(capsys)
    assert record["creds"] == {"user": "alice", "password": "[REDACTED]"}


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "console"])
def test_exception_messages_and_tracebacks_are_masked(
    json_mode: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(json=json_mode)
    attempt = {"password": "validation-pw"}
    message = 'upstream said {"token": "json-token"} via redis://:redis-pw@cache:6379/0'

    try:
        try:
            StrictLogin.model_validate(attempt)
        except ValidationError as error:
            raise RuntimeError(message) from error
    except RuntimeError:
        get_logger("app").exception("call failed")
        logging.getLogger("lib").exception("stdlib call failed")

    out = capsys.readouterr().out
    for secret in ("validation-pw", "json-token", "redis-pw"):
        assert secret not in out
    assert out.count("upstream said") >= 2
    assert "ValidationError" in out
    assert "cache:6379/0" in out


def test_exception_value_keeps_its_text_around_the_masks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()

    try:
        raise ValueError("login failed for {'username': 'bob', 'password': 'hunter2'}")
    except ValueError:
        get_logger("app").exception("login failed")

    (record,) = _records(capsys)
    assert record["exception"][0]["exc_value"] == (
        "login failed for {'username': 'bob', 'password': '[REDACTED]'}"
    )


def test_console_mode_renders_readable_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=False)

    get_logger("app").info("order placed", order_id=42, password="hunter2")

    (line,) = _lines(capsys)
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "order placed" in line
    assert "order_id=42" in line
    assert "hunter2" not in line


def test_configuring_twice_keeps_exactly_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    configure_logging()

    get_logger("app").info("once")

    assert len([h for h in logging.getLogger().handlers if _ours(h)]) == 1
    assert len(_lines(capsys)) == 1


def test_reconfiguring_reaches_loggers_already_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="WARNING")
    log = get_logger("app")
    log.info("hidden")
    log.warning("shown")

    configure_logging(level="debug", json=False)
    log.debug("now visible")

    lines = _lines(capsys)
    assert [json.loads(lines[0])["event"]] == ["shown"]
    assert len(lines) == 2
    assert "now visible" in lines[1]
    assert not lines[1].startswith("{")


def test_loggers_in_use_follow_structlog_resets() -> None:
    configure_logging()
    log = get_logger("app")
    log.info("before")

    structlog.reset_defaults()
    with structlog.testing.capture_logs() as captured:
        log.info("captured")

    assert [entry["event"] for entry in captured] == ["captured"]


def test_calls_below_the_level_cost_no_processing() -> None:
    configure_logging(level="WARNING")
    log = get_logger("app")

    with structlog.testing.capture_logs() as captured:
        log.info("dropped")
        log.warning("kept")

    assert [entry["event"] for entry in captured] == ["kept"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(level="LOUD")


def test_exceptions_carry_a_structured_redacted_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    log = get_logger("app")

    try:
        raise ValueError("upstream said Bearer abc123")
    except ValueError:
        log.exception("call failed")
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("alembic").exception("migration failed")

    ours, stdlib_line = _records(capsys)
    (exc,) = ours["exception"]
    assert ours["level"] == "error"
    assert exc["exc_type"] == "ValueError"
    assert exc["exc_value"] == "upstream said Bearer [REDACTED]"
    assert exc["frames"][-1]["name"] == "test_exceptions_carry_a_structured_redacted_traceback"
    assert "locals" not in exc["frames"][-1]
    assert stdlib_line["exception"][0]["exc_type"] == "KeyError"


def test_guide_example(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    from tiered.observability import configure_logging, get_logger

    configure_logging(level="INFO", json=True)
    log = get_logger("markets.orders")

    structlog.contextvars.bind_contextvars(request_id="3f2a9c1e")
    log.info(
        "order placed",
        order_id=42,
        password="hunter2",
        headers={"Authorization": "Bearer abc.def.ghi"},
    )
    structlog.contextvars.clear_contextvars()

    (record,) = _records(capsys)
    assert record.pop("timestamp")
    assert record == {
        "order_id": 42,
        "password": "[REDACTED]",
        "headers": {"Authorization": "[REDACTED]"},
        "event": "order placed",
        "request_id": "3f2a9c1e",
        "level": "info",
        "logger": "markets.orders",
    }


def test_guide_example_is_the_one_in_the_docs() -> None:
    """Keep docs/logging.md honest: its example is the code test_guide_example runs."""
    (block,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    doc_lines = [line.strip() for line in block.splitlines() if line.strip()]
    test_lines = [
        line.strip() for line in inspect.getsource(test_guide_example).splitlines() if line.strip()
    ]

    start = test_lines.index(doc_lines[0])
    assert test_lines[start : start + len(doc_lines)] == doc_lines


@pytest.mark.parametrize(
    ("nanoseconds", "expected"),
    [
        (1_700_000_000_000_123_999, "2023-11-14T22:13:20.000123Z"),
        (1_700_000_000_999_999_000, "2023-11-14T22:13:20.999999Z"),
        (1_700_000_001_000_000_000, "2023-11-14T22:13:21.000000Z"),
    ],
)
def test_timestamps_are_utc_with_six_digits_of_microseconds(
    monkeypatch: pytest.MonkeyPatch, nanoseconds: int, expected: str
) -> None:
    from tiered.observability import logging as tiered_logging

    monkeypatch.setattr(tiered_logging.time, "time_ns", lambda: nanoseconds)
    assert tiered_logging._utc_timestamp() == expected


def test_a_recorded_principal_is_on_every_later_line_of_the_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()
    log = get_logger("app")
    record_principal("user:7")  # outside a request: nothing to name
    log.info("before")
    token = enter_request(RequestScope("req-1"))
    log.info("anonymous so far")
    record_principal("user:42")
    log.info("signed in")
    logging.getLogger("sqlalchemy.engine").warning("slow query")
    log.info("own", principal_id="someone-else")
    leave_request(token)
    log.info("after")

    before, anonymous, signed_in, stdlib_line, own, after = _records(capsys)
    assert "principal_id" not in before
    assert "principal_id" not in anonymous
    assert signed_in["principal_id"] == stdlib_line["principal_id"] == "user:42"
    assert own["principal_id"] == "someone-else"
    assert "principal_id" not in after
