"""``Idempotency``: the ``Idempotency-Key`` header as a FastAPI dependency.

A POST that times out leaves the client unsure whether it happened; sending
it again must not do it twice. With a key, the first request's response is
kept and a retry with the same key gets it again instead of running again.

Three things make that safe rather than merely convenient:

- keys are scoped to the caller (its principal, else its address) and the
  route, so one client's key never answers another client's request;
- each request is fingerprinted (method, path, query, content type and the
  SHA-256 of the raw body), so a key reused for a *different* request is a
  422 instead of a wrong replay;
- a handler that raises (or answers 5xx) releases the key, so a failed
  attempt never blocks the retry that might succeed.

The route only declares the dependency; :class:`~tiered.idempotency.IdempotencyMiddleware`
(installed with :func:`~tiered.idempotency.install_idempotency`) hashes the
body and keeps the response once the handler has returned.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from fastapi import Depends, Header
from starlette.requests import Request
from starlette.types import Scope

from tiered.errors.hierarchy import AppError, CacheError, ConfigurationError
from tiered.idempotency.claims import Claim, claim_key
from tiered.idempotency.errors import idempotency_problems, key_missing
from tiered.idempotency.keys import IDEMPOTENCY_KEY_HEADER, KEY_PATTERN, parse_idempotency_key
from tiered.idempotency.middleware import SLOT, RequestSlot
from tiered.idempotency.records import REPLAYED_HEADER, StoredResponse, request_fingerprint
from tiered.observability.logging import get_logger
from tiered.ratelimit.keys import client_address_key
from tiered.security.rbac import AnyPrincipal, Principal, PrincipalSource
from tiered.store.protocol import Store, check_ttl

__all__ = [
    "DEFAULT_KEPT_HEADERS",
    "INSTALLED",
    "Idempotency",
    "IdempotentReplay",
    "declared_idempotency",
]

DEFAULT_KEPT_HEADERS = (
    "Content-Type",
    "Content-Language",
    "Content-Location",
    "Location",
    "ETag",
    "Last-Modified",
    "Link",
)
"""Headers of the first response that a replay repeats; the others describe the moment it was
sent (request id, rate-limit state, date) and are made afresh for the replay."""

INSTALLED = "tiered_idempotency_installed"
"""``app.state`` attribute set by :func:`~tiered.idempotency.install_idempotency`."""

_NAMESPACE = "idempotency"
_log = get_logger("tiered.idempotency")
_DECLARED: WeakKeyDictionary[Callable[..., Any], bool] = WeakKeyDictionary()


class IdempotentReplay(Exception):  # noqa: N818 - a signal carrying a response, not a failure
    """Raised by the dependency instead of running the handler; rendered as ``response``."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replaying the stored response")
        self.response = response


async def _anonymous() -> None:
    return None


def _seconds(value: float | timedelta, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    try:
        checked = check_ttl(seconds)
    except ValueError:
        raise ValueError(f"{name} must be a finite duration above zero, not {value!r}") from None
    assert checked is not None
    return checked


def _duration(seconds: float) -> str:
    """``24 hours``, ``7 days``, ``90 seconds``: how long replays last, as the docs say it."""
    for unit, size, at_least in (("day", 86_400, 2), ("hour", 3_600, 1), ("minute", 60, 1)):
        count = seconds / size
        if count >= at_least and count == int(count):
            return f"{int(count)} {unit}{'s' if count != 1 else ''}"
    whole = math.ceil(seconds)
    return f"{whole} second{'s' if whole != 1 else ''}"


def _identity(principal: AnyPrincipal | None, scope: Scope) -> str:
    if principal is None:
        return f"anonymous {client_address_key(scope)}"
    if isinstance(principal, Principal):
        return f"{principal.kind} {principal.id}"
    raise ConfigurationError("Idempotency's principal source must return a Principal or None.")


def _template(scope: Scope) -> str:
    """The route's path template, so the key is scoped per route rather than per URL."""
    template = getattr(scope.get("route"), "path_format", None)
    path = template if isinstance(template, str) else scope["path"]
    return f"{scope.get('root_path', '')}{path}"


class Idempotency:
    """Idempotency keys for the routes that declare :meth:`key`, kept in ``store``.

    ``principal`` is the app's authenticating dependency (as for
    :class:`~tiered.security.AccessControl`): keys are scoped to the
    principal it returns, or to the client address when it returns ``None``.
    A completed response is replayed for ``ttl`` (24 hours); a claim in
    flight lasts ``lease`` at most, which must outlast the slowest handler.
    Responses over ``max_response_bytes`` are sent but not kept (the key is
    released). When the store is unreachable the request is refused with a
    503, or, with ``fail_open``, served without idempotency.

    ``store`` may be set later (once a Redis client exists); keys live in its
    ``idempotency`` namespace. With a :class:`~tiered.store.MemoryStore`, give
    idempotency its own store, sized for a day of keys: its bound evicts.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        principal: PrincipalSource | None = None,
        ttl: float | timedelta = timedelta(hours=24),
        lease: float | timedelta = timedelta(minutes=1),
        max_response_bytes: int = 1024 * 1024,
        kept_headers: Iterable[str] = DEFAULT_KEPT_HEADERS,
        fail_open: bool = False,
    ) -> None:
        if max_response_bytes < 0:
            raise ValueError("max_response_bytes must not be negative")
        self._store: Store | None = None
        self.store = store
        self.principal = principal
        self.ttl = _seconds(ttl, "ttl")
        self.lease = _seconds(lease, "lease")
        self.max_response_bytes = max_response_bytes
        self.kept_headers = frozenset(name.lower().encode("latin-1") for name in kept_headers)
        self.fail_open = fail_open

    @property
    def store(self) -> Store | None:
        return self._store

    @store.setter
    def store(self, store: Store | None) -> None:
        self._store = None if store is None else store.namespace(_NAMESPACE)

    def description(self, *, required: bool) -> str:
        """The header's documentation: what a key buys, and for how long."""
        text = (
            "A unique key (a UUID, say) that makes this request safe to retry. A retry with "
            "the same key and the same request gets the first response again, marked "
            f"`{REPLAYED_HEADER}: true`, for {_duration(self.ttl)} after it was sent. Send it "
            'as a quoted string (`"8e03978e-40d5-43e8"`), 1 to 255 printable ASCII '
            "characters. The same key with a different request is a 422; a retry while "
            "the first request is still being processed is a 409."
        )
        return text + (" Required: a request without one is a 400." if required else "")

    def problems(self, *, required: bool = False) -> tuple[AppError, ...]:
        """What :meth:`key` may answer, for ``responses=problem_responses(...)``."""
        return idempotency_problems(required=required)

    def key(self, *, required: bool = False) -> Any:
        """The dependency a route declares: ``key: Annotated[str | None, idempotency.key()]``.

        It gives the route the key (``None`` when the client sent none and
        the key is optional). Declare it after the route's guards: FastAPI
        solves dependencies in order, and a caller should be refused before
        any response is replayed to it.
        """
        header = Header(
            None,
            alias=IDEMPOTENCY_KEY_HEADER,
            description=self.description(required=required),
            json_schema_extra={"pattern": KEY_PATTERN},
        )
        source = Depends(self.principal or _anonymous)

        async def idempotency_key(
            request: Request,
            sent_key: str | None = header,
            principal: AnyPrincipal | None = source,
        ) -> AsyncIterator[str | None]:
            if not getattr(request.app.state, INSTALLED, False):
                raise ConfigurationError(
                    "Idempotency keys need install_idempotency(app) on this application."
                )
            key = parse_idempotency_key(request.headers.getlist(IDEMPOTENCY_KEY_HEADER))
            if key is None:
                if required:
                    raise key_missing()
                yield None
                return
            outcome = await self._begin(request, key, principal)
            if isinstance(outcome, StoredResponse):
                raise IdempotentReplay(outcome)
            if outcome is None:
                yield key
                return
            try:
                yield key
            except BaseException:
                await outcome.release()
                raise
            outcome.handled = True

        _DECLARED[idempotency_key] = required
        return Depends(idempotency_key, scope="function")

    async def _begin(
        self, request: Request, key: str, principal: AnyPrincipal | None
    ) -> Claim | StoredResponse | None:
        """Claim the key for this request: the claim, the response to replay, or ``None``.

        ``None`` means the store is down and the route runs without
        idempotency (``fail_open``).
        """
        scope = request.scope
        slot = scope.get(SLOT)
        store = self._store
        if not isinstance(slot, RequestSlot) or store is None:
            raise ConfigurationError(
                "Idempotency needs its middleware in front of the route and a store "
                "(install_idempotency(app), Idempotency(store) or idempotency.store = ...)."
            )
        if not slot.body_complete:
            await request.body()
        fingerprint = request_fingerprint(
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            request.headers.get("content-type", "").encode("latin-1"),
            slot.body_digest.digest(),
        )
        scoped = [_identity(principal, scope), scope["method"], _template(scope), key]
        storage_key = hashlib.sha256(orjson.dumps(scoped)).hexdigest()
        try:
            outcome = await claim_key(
                store, storage_key, fingerprint, lease=self.lease, ttl=self.ttl
            )
        except CacheError:
            if not self.fail_open:
                raise
            _log.warning("idempotency_store_unavailable", fail_open=True)
            return None
        if isinstance(outcome, Claim):
            slot.arm(outcome, kept_headers=self.kept_headers, max_bytes=self.max_response_bytes)
        return outcome


def declared_idempotency(dependant: Any) -> bool | None:
    """Whether ``dependant`` (a route's, with its sub-dependencies) declares a key.

    ``True`` when it is required, ``False`` when optional, ``None`` when undeclared.
    """
    found: bool | None = None
    stack = [dependant]
    while stack:
        current = stack.pop()
        call = current.call
        if call is not None and call in _DECLARED:
            found = found or _DECLARED[call]
        stack.extend(current.dependencies)
    return found
