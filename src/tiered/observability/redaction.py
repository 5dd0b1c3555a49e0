"""Keep credentials out of log lines.

Logs are shipped, indexed and read by people who must never see a password
or a bearer token, so every line passes through `redact_secrets` before it
is rendered. Two nets are cast, because either alone leaks:

- *keys*: a value stored under a key that names a secret (``password``,
  ``Authorization``, ``refresh_token`` …) is replaced, whatever it is;
- *values*: a string that is shaped like a credential (``Bearer …``,
  ``tk_<prefix>_<secret>``, a JWT, ``?token=…``, ``://user:pw@``) is masked
  wherever it sits, because secrets also travel under innocent keys
  (``note``, ``url``, an exception message).

The walk is copy-on-write: the caller's objects are never mutated, and an
event without secrets is returned as is, without a single copy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final, cast

from structlog.typing import EventDict, WrappedLogger

__all__ = ["REDACTED", "is_secret_key", "redact_secrets", "redact_value"]

REDACTED: Final = "[REDACTED]"

_SECRET_KEY_FRAGMENTS: Final = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "jwt",
    "session",
)
_NOT_ALNUM: Final = re.compile(r"[^a-z0-9]")

# Deeper nesting than this is cut off (and masked) rather than walked: it
# is almost always a cycle, and an unbounded walk would crash the logger.
_MAX_DEPTH: Final = 32

# One pattern per credential shape, each behind a substring test: a
# combined alternation is tried at every position of every string and costs
# microseconds per value, while `in` rejects a clean string in nanoseconds.
_AUTH: Final = re.compile(r"\b(?P<scheme>(?i:bearer|basic))\s+[A-Za-z0-9\-._~+/]+=*")
_AUTH_MASK: Final = rf"\g<scheme> {REDACTED}"
_API_KEY: Final = re.compile(r"(?<![A-Za-z0-9])(?P<head>tk_[A-Za-z0-9]+_)[A-Za-z0-9_\-]+")
_HEAD_MASK: Final = rf"\g<head>{REDACTED}"
_JWT: Final = re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_USERINFO: Final = re.compile(r"(?P<head>://[^\s:/@]+:)[^\s/@]+@")
_USERINFO_MASK: Final = rf"\g<head>{REDACTED}@"
_PAIR: Final = re.compile(
    r"(?<![^\s?&;,\"'(\[{])(?P<name>[A-Za-z0-9_.\-\[\]]++)=(?P<value>[^&#\s]*)"
)


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Tell whether a key names a secret (``X-API-Key``, ``access_token``, ``Set-Cookie`` …).

    Case and separators are ignored and fragments match anywhere, so new
    spellings are caught without a list update; a few harmless keys
    (``session_id``) are masked too, which is the cheaper mistake. Cached:
    the same handful of keys recurs on every line.
    """
    normalized = _NOT_ALNUM.sub("", name.lower())
    return any(fragment in normalized for fragment in _SECRET_KEY_FRAGMENTS)


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets by key and by shape, without mutating the input.

    Place it after exception formatting (tracebacks carry messages too) and
    right before the renderer, so that nothing added later escapes it.
    """
    redacted = _redact_mapping(event_dict, 0)
    return event_dict if redacted is event_dict else cast(EventDict, redacted)


def redact_value(value: Any) -> Any:
    """Mask secrets in any loggable value; return *value* itself when nothing changes.

    Public for the places that show data outside the log pipeline (error
    reports, debug pages) and for the JSON fallback of objects only `repr`
    can render.
    """
    return _redact(value, 0)


def _redact(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _redact_text(value)
    if value is None or isinstance(value, int | float):
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    return _redact_container(value, depth)


def _redact_container(value: Any, depth: int) -> Any:
    if isinstance(value, dict | Mapping):
        return _redact_mapping(value, depth)
    if isinstance(value, list):
        items = [_redact(item, depth + 1) for item in value]
        return items if _changed(value, items) else value
    if isinstance(value, tuple):
        return _redact_tuple(value, depth)
    if isinstance(value, bytes):
        text = value.decode("latin-1")
        masked = _redact_text(text)
        return value if masked is text else masked.encode("latin-1")
    return value


def _redact_mapping(mapping: Mapping[Any, Any], depth: int) -> Mapping[Any, Any]:
    out: dict[Any, Any] = {}
    changed = not isinstance(mapping, dict)
    for key, item in mapping.items():
        secret = is_secret_key(key) if type(key) is str else _is_secret_name(key)
        new = _mask_secret_value(item) if secret else _redact(item, depth + 1)
        changed = changed or new is not item
        out[key] = new
    return out if changed else mapping


def _redact_tuple(value: tuple[Any, ...], depth: int) -> tuple[Any, ...]:
    # A (name, value) pair is how ASGI scopes and HTTP clients carry headers.
    if len(value) == 2 and _is_secret_name(value[0]):
        items = [value[0], _mask_secret_value(value[1])]
    else:
        items = [_redact(item, depth + 1) for item in value]
    if not _changed(value, items):
        return value
    if hasattr(value, "_fields"):  # namedtuple: keep its type
        return type(value)(*items)
    return tuple(items)


def _mask_secret_value(value: Any) -> Any:
    """None and booleans say "absent"/"valid" and reveal nothing; keep them for debugging."""
    return value if value is None or isinstance(value, bool) else REDACTED


def _is_secret_name(key: Any) -> bool:
    if isinstance(key, str):
        return is_secret_key(key)
    if isinstance(key, bytes):
        return is_secret_key(key.decode("latin-1"))
    return False


def _changed(old: list[Any] | tuple[Any, ...], new: list[Any]) -> bool:
    return any(a is not b for a, b in zip(old, new, strict=True))


def _redact_text(text: str) -> str:
    """Return *text* itself when clean, so that callers can test with `is`.

    Schemes go first: ``Authorization=Bearer abc`` must lose ``abc`` before
    the key=value pass masks only the word ``Bearer``.
    """
    masked = text
    if "earer" in masked or "asic" in masked or "EARER" in masked or "ASIC" in masked:
        masked = _AUTH.sub(_AUTH_MASK, masked)
    if "=" in masked:
        masked = _PAIR.sub(_mask_pair, masked)
    if "tk_" in masked:
        masked = _API_KEY.sub(_HEAD_MASK, masked)
    if "eyJ" in masked:
        masked = _JWT.sub(REDACTED, masked)
    if "://" in masked:
        masked = _USERINFO.sub(_USERINFO_MASK, masked)
    return text if masked == text else masked


def _mask_pair(match: re.Match[str]) -> str:
    if match["value"] and is_secret_key(match["name"]):
        return f"{match['name']}={REDACTED}"
    return match[0]
