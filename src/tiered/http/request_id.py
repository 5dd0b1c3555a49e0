"""Request identifiers: accepted from the client when well-formed, else generated.

A generated id is 32 hex digits from a pseudo-random generator seeded from
the operating system, and seeded again in a forked child: it correlates log
lines and responses, it grants nothing, so it needs to be unique, not secret,
and it is made on every request without a system call (``os.urandom`` is one).
"""

from __future__ import annotations

import os
import random
import re

from starlette.types import Scope

__all__ = [
    "REQUEST_ID_HEADER",
    "accept_or_generate",
    "new_request_id",
    "request_id_for",
    "request_id_of",
]

REQUEST_ID_HEADER = "x-request-id"
_HEADER = REQUEST_ID_HEADER.encode("latin-1")
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_GENERATOR = random.Random()  # noqa: S311 - ids to correlate, not secrets
os.register_at_fork(after_in_child=_GENERATOR.seed)


def new_request_id() -> str:
    return _GENERATOR.randbytes(16).hex()


def accept_or_generate(candidate: str | None) -> str:
    """The client's id if it is short and plain (safe to log and echo), else a new one."""
    if candidate and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return new_request_id()


def request_id_for(scope: Scope) -> str:
    """The id a request gets: its well-formed ``X-Request-ID``, else a new one."""
    for name, value in scope["headers"]:
        if name == _HEADER:
            return accept_or_generate(value.decode("latin-1"))
    return new_request_id()


def request_id_of(scope: Scope) -> str | None:
    """The id the request-context middleware gave this request, if it ran."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None
