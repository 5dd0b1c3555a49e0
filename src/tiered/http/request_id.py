"""Request identifiers: accepted from the client when well-formed, else generated."""

from __future__ import annotations

import os
import re

from starlette.types import Scope

__all__ = ["REQUEST_ID_HEADER", "accept_or_generate", "request_id_for", "request_id_of"]

REQUEST_ID_HEADER = "x-request-id"
_HEADER = REQUEST_ID_HEADER.encode("latin-1")
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def accept_or_generate(candidate: str | None) -> str:
    """The client's id if it is short and plain (safe to log and echo), else a new one."""
    if candidate and _WELL_FORMED.fullmatch(candidate):
        return candidate
    return os.urandom(16).hex()


def request_id_for(scope: Scope) -> str:
    """The id a request gets: its well-formed ``X-Request-ID``, else a new one."""
    for name, value in scope["headers"]:
        if name == _HEADER:
            return accept_or_generate(value.decode("latin-1"))
    return os.urandom(16).hex()


def request_id_of(scope: Scope) -> str | None:
    """The id the request-context middleware gave this request, if it ran."""
    state = scope.get("state")
    return state.get("request_id") if isinstance(state, dict) else None
