"""Logging isolation shared by the tests that configure the real pipeline."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)


@pytest.fixture
def isolated_logging() -> Iterator[None]:
    """Leave structlog, the root logger and uvicorn's loggers as we found them."""
    root = logging.getLogger()
    root_level = root.level
    saved = {}
    for name in UVICORN_LOGGERS:
        lg = logging.getLogger(name)
        saved[name] = (lg.level, lg.propagate, list(lg.handlers))
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    for handler in [h for h in root.handlers if _ours(h)]:
        root.removeHandler(handler)
    root.setLevel(root_level)
    for name, (level, propagate, handlers) in saved.items():
        lg = logging.getLogger(name)
        lg.setLevel(level)
        lg.propagate = propagate
        lg.handlers[:] = handlers
