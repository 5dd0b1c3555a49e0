"""One logging pipeline for the app and the libraries under it.

Our code logs through structlog; uvicorn, SQLAlchemy and Alembic log
through the stdlib. Both go through the *same* processors: request context,
level, logger name and UTC timestamp, exception formatting, redaction, and
one JSON object per line (or a console line in development). A third-party
line can therefore neither skip redaction nor break the one-object-per-line
contract that log shippers rely on.

structlog lines (the access log among them) are rendered and written
directly, off the stdlib's record-and-formatter path, which cost several
times the rendering itself; stdlib lines reach the same processors through a
`structlog.stdlib.ProcessorFormatter` on the root handler.

Loggers are *not* cached on first use. `configure_logging` runs again in
every test and in every `create_app`, and tests reset structlog or wrap it
in `structlog.testing.capture_logs()`; a logger cached earlier in the
session would ignore all of that and make results depend on test order.
Not caching costs a few microseconds per call on a `get_logger` proxy, a
small share of a rendered line, and `make_filtering_bound_logger` keeps
calls below the level close to free.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import Token
from datetime import UTC, datetime
from json import dumps as stdlib_json_dumps
from typing import Any, Final, TextIO, cast

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, FilteringBoundLogger, Processor

from tiered.observability.redaction import redact_secrets, redact_value
from tiered.observability.request_scope import (
    RequestScope,
    current_request,
    enter_request,
    leave_request,
)

__all__ = ["bind_request_id", "configure_logging", "get_logger", "log_request", "reset_request_id"]

# uvicorn installs its own handlers; its lines must flow through ours instead.
_ROUTED_LOGGERS: Final = ("uvicorn", "uvicorn.error")
# The app writes a richer access log (request_id, duration, principal).
_SILENCED_LOGGERS: Final = ("uvicorn.access",)
_ORJSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS
_LINE_OPTIONS: Final = _ORJSON_OPTIONS | orjson.OPT_APPEND_NEWLINE
# Mutated in place: loggers bound before a reconfiguration hold this list.
_STRUCTLOG_CHAIN: Final[list[Processor]] = []
_ACCESS_LOGGER: Final = "tiered.access"


class _AccessLine:
    """What the access line's fast path needs to know of the current configuration."""

    level_no: int = logging.INFO
    renderer: Processor | None = None


_ACCESS = _AccessLine()


def bind_request_id(request_id: str) -> Token[RequestScope | None]:
    """Put ``request_id`` on every line logged in this context, until `reset_request_id`.

    The id lives in the context's `RequestScope` (which the request-context
    middleware enters for every request) rather than in structlog's
    `bind_contextvars`: binding and unbinding it is the cost of every request,
    and this is a tenth of structlog's.
    """
    return enter_request(RequestScope(request_id))


def reset_request_id(token: Token[RequestScope | None]) -> None:
    leave_request(token)


def _add_request_context(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The request's id and, once known, its caller, unless the line names its own."""
    request = current_request()
    if request is not None:
        if "request_id" not in event_dict:
            event_dict["request_id"] = request.request_id
        if request.principal_id is not None and "principal_id" not in event_dict:
            event_dict["principal_id"] = request.principal_id
    return event_dict


class _Second:
    """The last whole second formatted, so that a timestamp costs one formatting."""

    value: int = -1
    text: str = ""
    """``2026-01-31T12:00:59.``: the second, up to the decimal point."""


_SECOND = _Second()


def _utc_timestamp() -> str:
    """Now, as ISO 8601 in UTC with microseconds and a ``Z``."""
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    if second != _SECOND.value:
        _SECOND.text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _SECOND.value = second
    return _SECOND.text + str(micros).rjust(6, "0") + "Z"


class _Output:
    """The stream lines go to, and its file descriptor once resolved (-1: it has none)."""

    stream: object = None
    fd: int = -1


_OUTPUT = _Output()


def _write_line(line: bytes) -> None:
    """Write one whole line to whatever `sys.stdout` is now, unbuffered.

    Straight to the stream's file descriptor when it has one (one ``write(2)``,
    without the text layer's encode-and-buffer round); through the stream
    otherwise (pytest's capture). What others printed to the stream is flushed
    first, and every line of ours is written whole, so lines keep their order.
    """
    stream = sys.stdout
    if stream is not _OUTPUT.stream:
        _OUTPUT.stream = stream
        _OUTPUT.fd = _fd_of(stream)
    fd = _OUTPUT.fd
    if fd < 0:
        stream.write(line.decode("utf-8"))
        stream.flush()
        return
    stream.flush()  # whatever else was printed goes first; nothing to do, usually
    written = os.write(fd, line)
    while written < len(line):  # a pipe or a signal can cut a long write short
        written += os.write(fd, line[written:])


def _fd_of(stream: TextIO) -> int:
    try:
        stream.flush()
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return -1


class _StdoutLogger:
    """structlog's output: one line to whatever `sys.stdout` is at write time."""

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _write_line(message.encode("utf-8") + b"\n")

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stdout_logger(name: str | None = None, *_: Any) -> _StdoutLogger:
    return _StdoutLogger(name or "root")


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Write to whatever `sys.stdout` is at emit time.

    pytest's capture (and any process manager that swaps stdout) would
    otherwise leave the handler writing to a stream nobody reads. The class
    also marks the handler `configure_logging` owns, so that a second call
    replaces it instead of adding a duplicate.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _: TextIO) -> None:
        """Ignore: the stream is always the current `sys.stdout`."""


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and stdlib logging to stdout through one redacting pipeline.

    Safe to call again: the previous handler is replaced, never duplicated,
    and handlers installed by others (pytest's caplog) are left alone.
    Raises `ValueError` for an unknown *level* rather than logging nothing.
    """
    level_no = _parse_level(level)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.processors.StackInfoRenderer(),
    ]
    _STRUCTLOG_CHAIN[:] = [*shared, *_rendering_processors(json=json)]
    _ACCESS.level_no = level_no
    _ACCESS.renderer = _STRUCTLOG_CHAIN[-1] if json else None
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=_stdout_logger,
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        context_class=dict,
        cache_logger_on_first_use=False,
    )

    handler = _StdoutHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_rendering_processors(json=json),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level_no)

    for name in _ROUTED_LOGGERS:
        _drop_own_handlers(name, level=logging.NOTSET)
    for name in _SILENCED_LOGGERS:
        _drop_own_handlers(name, level=logging.WARNING)


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """Return a structlog logger named *name* (default: the caller's module).

    The name is resolved here rather than guessed from the stack on every
    call, which is both cheaper and exact.
    """
    if name is None:
        name = cast(str, sys._getframe(1).f_globals.get("__name__", "tiered"))
    return cast(FilteringBoundLogger, structlog.get_logger(name))


def log_request(
    *,
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    client: str | None,
    request_id: str,
    principal_id: str | None = None,
) -> None:
    """Write the access line of one request: the same JSON line the pipeline would write.

    It is logged on every request, so in JSON mode it skips the processor chain
    (proxy binding, context merge, the generic redaction walk), which cost several
    times the line itself: the fields are the middleware's own, so only the path
    can carry a credential, and it is masked as every value is. In console mode,
    or while structlog is reconfigured (``capture_logs`` in tests), the line takes
    the ordinary path, so nothing about it is special to readers of the log.
    """
    if _ACCESS.level_no > logging.INFO:
        return
    renderer = _ACCESS.renderer
    if renderer is None or not _STRUCTLOG_CHAIN or _STRUCTLOG_CHAIN[-1] is not renderer:
        extra = {} if principal_id is None else {"principal_id": principal_id}
        get_logger(_ACCESS_LOGGER).info(
            "request",
            method=method,
            path=path,
            status=status,
            duration_ms=duration_ms,
            client=client,
            request_id=request_id,
            **extra,
        )
        return
    fields = {
        "method": method,
        "path": redact_value(path),
        "status": status,
        "duration_ms": duration_ms,
        "client": client,
        "request_id": request_id,
        "event": "request",
        "level": "info",
        "logger": _ACCESS_LOGGER,
        "timestamp": _utc_timestamp(),
    }
    if principal_id is not None:
        fields["principal_id"] = principal_id
    try:
        line = orjson.dumps(fields, default=_json_default, option=_LINE_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError, e.g. an int beyond 64 bits
        line = (stdlib_json_dumps(fields, default=_json_default) + "\n").encode("utf-8")
    _write_line(line)


def _rendering_processors(*, json: bool) -> list[Processor]:
    """Exceptions are formatted *before* redaction: their messages can carry secrets.

    Redaction is the last step before the renderer and hands it plain data
    and masked text only, so neither orjson's own dataclass support nor the
    console renderer's `repr` ever meets an object it could print in clear.
    """
    if json:
        return [
            # Locals are off: they would put every variable of every frame
            # (settings, request bodies) into the log.
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ]
    return [
        # Plain text so that the traceback is redacted too; the renderer
        # would format `exc_info` itself only after redaction has run.
        structlog.processors.format_exc_info,
        redact_secrets,
        structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
    ]


def _dumps(obj: Any, **_: Any) -> str:
    """orjson for speed; stdlib json as the fallback so that a line is never lost."""
    try:
        return orjson.dumps(obj, default=_json_default, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError, e.g. an int beyond 64 bits
        return stdlib_json_dumps(obj, default=_json_default)


def _json_default(obj: Any) -> Any:
    """Render what JSON cannot hold (sets, bytes, decimals, namedtuples), masked again.

    Redaction has already walked these; masking the fallback text too keeps
    a value that reaches the renderer some other way from printing in clear.
    """
    if isinstance(obj, set | frozenset):
        return redact_value(list(obj))
    to_structlog = getattr(obj, "__structlog__", None)
    if callable(to_structlog):
        return redact_value(to_structlog())
    return redact_value(repr(obj))


def _drop_own_handlers(name: str, *, level: int) -> None:
    """Propagation stays on, so even a silenced logger's rare warning is rendered and redacted."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = True


def _parse_level(level: str) -> int:
    try:
        return logging.getLevelNamesMapping()[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}") from None
