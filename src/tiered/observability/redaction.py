"""Keep credentials out of log lines.

Logs are shipped, indexed and read by people who must never see a password
or a bearer token, so every line passes through `redact_secrets` before it
is rendered. Two nets are cast, because either alone leaks:

- *keys*: a value stored under a key that names a secret (``password``,
  ``Authorization``, ``refresh_token`` …) is replaced, whatever it is;
- *values*: a string that is shaped like a credential (``Bearer …``,
  ``tk_<prefix>_<secret>``, a JWT, ``password=…``, ``"token": "…"``,
  ``://user:pw@``) is masked wherever it sits, because secrets also travel
  under innocent keys (``note``, ``url``, an exception message).

Renderers do not only see dicts and strings: orjson serialises dataclasses
itself and the console renderer calls `repr`, both behind the processor's
back. So every other object is turned into a redacted plain structure here:
dataclasses, pydantic models and attrs classes become dicts of their fields
(and are walked by key), anything else becomes its masked `repr`.

The walk is copy-on-write: the caller's objects are never mutated, and an
event without secrets (and without objects) is returned as is, uncopied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, cast

from pydantic import BaseModel
from structlog.typing import EventDict, WrappedLogger

__all__ = ["REDACTED", "is_secret_key", "redact_secrets", "redact_value"]

REDACTED: Final = "[REDACTED]"

# Matched anywhere in a key, after lower-casing and dropping separators.
_SECRET_KEY_FRAGMENTS: Final = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "privkey",
    "signingkey",
    "encryptionkey",
    "jwt",
    "session",
)
# Too short to match as fragments ("author", "passenger"), secret as whole keys.
_SECRET_KEY_NAMES: Final = frozenset({"auth", "pass", "pw", "pin", "otp"})
# Every secret key name contains one of these, in any case or spelling
# (``api_key`` has "key", ``pass-word`` has "pass"): a string without any of
# them cannot hold a secret ``key=value`` pair and skips those patterns.
_SECRET_KEY_HINTS: Final = (
    "pass",
    "pw",
    "secret",
    "token",
    "key",
    "auth",
    "cookie",
    "credential",
    "jwt",
    "session",
    "pin",
    "otp",
)
_SECRET_KEY_HINT: Final = re.compile("|".join(_SECRET_KEY_HINTS))
_NOT_ALNUM: Final = re.compile(r"[^a-z0-9]")

# Deeper nesting than this is cut off (and masked) rather than walked: it
# is almost always a cycle, and an unbounded walk would crash the logger.
_MAX_DEPTH: Final = 32
_CACHE_SIZE: Final = 4096
# Short clean strings recur on every line (event names, methods, logger
# names, client addresses): remembering them skips all the tests below.
_CACHED_TEXT_LENGTH: Final = 64
# Values whose rendering (by orjson or `repr`) cannot carry a credential.
_SAFE_TYPES: Final = (int, float, enum.Enum, dt.date, dt.time, dt.timedelta, uuid.UUID, Decimal)
_ATOMS: Final = frozenset({int, float, bool, type(None)})
# Under a secret key these say "absent"/"valid" and reveal nothing.
_KEPT_VALUES: Final = frozenset({"", '""', "''", "null", "true", "false", "None", "True", "False"})
_MISSING: Final = object()

# One pattern per credential shape, each behind a substring test: a
# combined alternation is tried at every position of every string and costs
# microseconds per value, while `in` rejects a clean string in nanoseconds.
_AUTH: Final = re.compile(r"\b(?P<scheme>(?i:bearer|basic))\s+[A-Za-z0-9\-._~+/]+=*")
_AUTH_MASK: Final = rf"\g<scheme> {REDACTED}"
_API_KEY: Final = re.compile(r"(?<![A-Za-z0-9])(?P<head>tk_[A-Za-z0-9]+_)[A-Za-z0-9_\-]+")
_HEAD_MASK: Final = rf"\g<head>{REDACTED}"
_JWT: Final = re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
# The user may be empty (``redis://:pw@host``); the password runs to the
# last ``@`` of the authority, so an ``@`` inside it cannot end it early.
_USERINFO: Final = re.compile(r"(?P<head>://[^\s:/@?#]*+:)[^\s/?#]+@")
_USERINFO_MASK: Final = rf"\g<head>{REDACTED}@"
# pydantic puts the rejected input into the error text, possibly truncated
# in the middle of a key, so the field name cannot be trusted: always mask.
_INPUT_VALUE: Final = re.compile(r"input_value=(?:[^\n]*?(?=, input_type=)|[^\n]*)")
_INPUT_VALUE_MASK: Final = f"input_value={REDACTED}"
# ``name=value`` (query strings, forms, reprs) and ``"name": value`` (JSON,
# Python dicts, header lines), the name optionally quoted, at any depth of
# escaping (JSON inside JSON inside a `repr`). The value is only looked
# ahead at: after an innocent name the search resumes inside it, which may
# hold a pair of its own (``error: {"token": …}``). A quote after a
# backslash never ends a value: at an unknown depth of escaping it may be
# escaped, and masking too much is the cheaper mistake. An unquoted value
# after ``:`` runs to the end of the line, also an escaped one (``\n``).
_KEY_VALUE: Final = re.compile(
    r"(?<![A-Za-z0-9_.\-\[\]])"
    r"(?P<q>\\*+[\"']|)(?P<name>[A-Za-z][A-Za-z0-9_.\-\[\]]*+)(?P=q)"
    r"[ \t]*+(?:(?P<colon>:)|=)[ \t]*+"
    r"(?=(?P<value>"
    r"\"(?:[^\"\\\n]|\\++[^\n])*+\""
    r"|'(?:[^'\\\n]|\\++[^\n])*+'"
    r"|(?P<vq>\\++[\"'])[^\n]*?(?<!\\)(?P=vq)"
    r"|\[[^\[\]\n]*+\]"
    r"|\{[^{}\n]*+\}"
    r"|(?(colon)(?:[^\s,}\]\\]|\\\\|\\(?![rn]))(?:[^\r\n,}\]\\]|\\\\|\\(?![rn]))*+"
    r"|[^\s&#=][^\s&#]*+)"
    r"))"
)
# ``('authorization', 'Bearer …')`` and ``[b'cookie', b'…']`` as `repr` prints header pairs.
_PAIR_TEXT: Final = re.compile(
    r"[(\[][ \t]*+b?(?P<q>\\*+[\"'])(?P<name>[A-Za-z0-9_.\-]++)(?P=q)[ \t]*+,[ \t]*+"
    r"(?=(?P<value>b?(?:"
    r"\"(?:[^\"\\\n]|\\++[^\n])*+\""
    r"|'(?:[^'\\\n]|\\++[^\n])*+'"
    r"|(?P<vq>\\++[\"'])[^\n]*?(?<!\\)(?P=vq)"
    r")))"
)

_QUOTED: Final = re.compile(r"(?P<opener>b?(?P<quote>\\*+[\"'])).*(?P=quote)", re.DOTALL)

_KEY_CACHE: Final[dict[str, tuple[bool, str]]] = {}
_CLEAN_TEXT: Final[set[str]] = set()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def is_secret_key(name: str) -> bool:
    """Tell whether a key names a secret (``X-API-Key``, ``access_token``, ``Set-Cookie`` …).

    Case and separators are ignored and fragments match anywhere, so new
    spellings are caught without a list update; a few harmless keys
    (``session_id``) are masked too, which is the cheaper mistake. Cached:
    the same handful of keys recurs on every line.
    """
    normalized = _NOT_ALNUM.sub("", name.lower())
    return normalized in _SECRET_KEY_NAMES or any(
        fragment in normalized for fragment in _SECRET_KEY_FRAGMENTS
    )


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
    cls = type(value)
    if cls is str:
        return value if value in _CLEAN_TEXT else _redact_text(value)
    if cls in _ATOMS:
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    return _WALKERS.get(cls, _redact_object)(value, depth)


def _redact_mapping(mapping: Mapping[Any, Any], depth: int) -> Mapping[Any, Any]:
    # A pydantic error dict (``exc.errors()``) carries the rejected input.
    error_input = "input" in mapping and "loc" in mapping
    changes: dict[Any, tuple[Any, Any]] | None = None
    for key, item in mapping.items():
        if type(key) is str:
            secret, new_key = _KEY_CACHE.get(key) or _classify_key(key)
        else:
            secret, new_key = _is_secret_name(key), key
        if secret or (error_input and key == "input"):
            new = _mask_secret_value(item)
        elif type(item) is str:  # inlined: most values are short clean strings
            new = item if item in _CLEAN_TEXT else _redact_text(item)
        elif type(item) in _ATOMS:
            new = item
        else:
            new = _redact(item, depth + 1)
        if new is not item or new_key is not key:
            if changes is None:
                changes = {}
            changes[key] = (new_key, new)
    if changes is None:
        return mapping if isinstance(mapping, dict) else dict(mapping)
    return _rebuilt(mapping, changes)


def _rebuilt(mapping: Mapping[Any, Any], changes: dict[Any, tuple[Any, Any]]) -> dict[Any, Any]:
    """A copy with *changes* (old key -> new key, new value) applied, in the original order."""
    out: dict[Any, Any] = {}
    for key, item in mapping.items():
        change = changes.get(key)
        if change is None:
            out[key] = item
        else:
            out[change[0]] = change[1]
    return out


def _classify_key(key: str) -> tuple[bool, str]:
    """Whether *key* names a secret, and the key itself masked (keys can be tokens too)."""
    info = (is_secret_key(key), _redact_text(key))
    if len(_KEY_CACHE) >= _CACHE_SIZE:
        _KEY_CACHE.clear()
    _KEY_CACHE[key] = info
    return info


def _redact_list(value: list[Any], depth: int) -> list[Any]:
    # ``[name, value]`` is how JSON-decoded ASGI scopes carry headers.
    if len(value) == 2 and _is_secret_name(value[0]):
        items = [value[0], _mask_secret_value(value[1])]
    else:
        items = [_redact(item, depth + 1) for item in value]
    return items if _changed(value, items) else value


def _redact_tuple(value: tuple[Any, ...], depth: int) -> tuple[Any, ...]:
    # A (name, value) pair is how ASGI scopes and HTTP clients carry headers.
    names: tuple[str, ...] | None = getattr(type(value), "_fields", None)  # namedtuple
    if len(value) == 2 and _is_secret_name(value[0]):
        items = [value[0], _mask_secret_value(value[1])]
    elif names is not None and len(names) == len(value):
        items = [
            _mask_secret_value(item) if _is_secret_name(name) else _redact(item, depth + 1)
            for name, item in zip(names, value, strict=True)
        ]
    else:
        items = [_redact(item, depth + 1) for item in value]
    if not _changed(value, items):
        return value
    if names is not None:
        try:
            return type(value)(*items)
        except Exception:  # a custom __new__: the values matter more than the type
            return tuple(items)
    return tuple(items)


def _redact_set(value: set[Any] | frozenset[Any], depth: int) -> Any:
    # A list, once changed: masked members may collide or stop being hashable.
    items = [_redact(item, depth + 1) for item in value]
    return items if any(a is not b for a, b in zip(value, items, strict=True)) else value


def _redact_bytes(value: bytes, depth: int) -> bytes:
    text = value.decode("latin-1")
    masked = _redact_text(text)
    return value if masked is text else masked.encode("latin-1")


def _redact_object(value: Any, depth: int) -> Any:
    """Reduce anything else to what the renderers can only show safely: plain data or text."""
    if isinstance(value, str):  # str subclasses, StrEnum
        return _redact_text(value)
    if isinstance(value, _SAFE_TYPES):
        return value
    try:
        return _to_plain(value, depth)
    except Exception:  # a broken __repr__ or property must not cost the log line
        return f"<{type(value).__name__} (unrenderable)>"


def _to_plain(value: Any, depth: int) -> Any:
    for kind, walk in _SUBCLASS_WALKERS:
        if isinstance(value, kind):
            return walk(value, depth)
    to_structlog = getattr(type(value), "__structlog__", None)
    if callable(to_structlog):
        return _redact(to_structlog(value), depth + 1)
    fields = _fields_of(value)
    if fields is not None:
        return _redact_mapping(fields, depth)
    return _redact_text(repr(value))


_Walker = Callable[[Any, int], Any]
_WALKERS: Final[dict[type, _Walker]] = {
    dict: _redact_mapping,
    list: _redact_list,
    tuple: _redact_tuple,
    bytes: _redact_bytes,
}
# Subclasses (OrderedDict, namedtuples …) and other mappings, in checking order.
_SUBCLASS_WALKERS: Final[tuple[tuple[type | tuple[type, ...], _Walker], ...]] = (
    (Mapping, _redact_mapping),
    (tuple, _redact_tuple),
    (list, _redact_list),
    (bytes, _redact_bytes),
    ((set, frozenset), _redact_set),
)


def _fields_of(value: Any) -> dict[str, Any] | None:
    """The fields of a dataclass, pydantic model or attrs instance, as a fresh dict."""
    if isinstance(value, BaseModel):
        return dict(iter(value))  # not dict(value): a field may be called "keys"
    cls = type(value)
    if dataclasses.is_dataclass(cls):
        names = [field.name for field in dataclasses.fields(value)]
    elif hasattr(cls, "__attrs_attrs__"):
        names = [attribute.name for attribute in cls.__attrs_attrs__]
    else:
        return None
    fields = {name: getattr(value, name, _MISSING) for name in names}
    return {name: item for name, item in fields.items() if item is not _MISSING}


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
    lower = text.lower()
    masked = text
    if "bearer" in lower or "basic" in lower:
        masked = _AUTH.sub(_AUTH_MASK, masked)
    if "tk_" in masked:
        masked = _API_KEY.sub(_HEAD_MASK, masked)
    if "eyJ" in masked:
        masked = _JWT.sub(REDACTED, masked)
    if "@" in masked and "://" in masked:
        masked = _USERINFO.sub(_USERINFO_MASK, masked)
    if "input_value=" in masked:
        masked = _INPUT_VALUE.sub(_INPUT_VALUE_MASK, masked)
    if "=" in masked or ":" in masked or "," in masked:
        # pydantic's error JSON (``exc.json()``) carries the rejected "input" too.
        error_input = "input" in lower and "loc" in lower
        if error_input or _SECRET_KEY_HINT.search(lower):
            masked = _mask_pairs(_KEY_VALUE, masked, error_input=error_input)
            if "," in masked:
                masked = _mask_pairs(_PAIR_TEXT, masked, error_input=False)
    if masked != text:
        return masked
    if len(text) <= _CACHED_TEXT_LENGTH:
        if len(_CLEAN_TEXT) >= _CACHE_SIZE:
            _CLEAN_TEXT.clear()
        _CLEAN_TEXT.add(text)
    return text


def _mask_pairs(pattern: re.Pattern[str], text: str, *, error_input: bool) -> str:
    """Mask the value of every secret-named pair that *pattern* finds in *text*."""
    pieces: list[str] = []
    done = start = 0
    while (match := pattern.search(text, start)) is not None:
        value, name = match["value"], match["name"]
        secret = is_secret_key(name) or (error_input and name == "input")
        if not secret or value in _KEPT_VALUES:
            start = match.end()
            continue
        pieces += (text[done : match.start("value")], _masked_like(value))
        done = start = match.end("value")
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _masked_like(value: str) -> str:
    """Keep the quotes around a masked value, so a JSON body stays JSON."""
    quoted = _QUOTED.fullmatch(value)
    if quoted is None:
        return REDACTED
    return f"{quoted['opener']}{REDACTED}{quoted['quote']}"
