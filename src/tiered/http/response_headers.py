"""The headers every response of an API carries: security headers and private caching.

Security headers (``nosniff``, ``DENY`` framing, a ``default-src 'none'`` CSP,
HSTS over HTTPS…) go on every response; one the route already set (the docs
pages set their own Content-Security-Policy) is left alone.

A response to a request that carries credentials is about one caller: no
shared cache may keep it for the next. Such a response gets ``Cache-Control:
no-store``, replacing whatever the route set, and every response gets
``Vary`` on the credential headers (merged into the route's own ``Vary``),
because what a route shows depends on who asks even when nobody is signed in.
FastAPI drops the headers of an injected ``Response`` when a route returns its
own, so they are added at the ASGI level, where every route is alike.

Neither is a layer of its own: the request-context layer, which already sees
every response start, completes the headers, since every layer costs a call and
a closure on every request. A response that sets none of the headers concerned
(nearly all) gets a precomputed tuple appended, with no per-header work.

Layers inside it complete headers at the same response start through
:mod:`tiered.http.header_completers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from starlette.types import Scope

from tiered.http.header_completers import Header
from tiered.security.api_keys import API_KEY_HEADER

__all__ = [
    "DEFAULT_CREDENTIAL_HEADERS",
    "DEFAULT_SECURITY_HEADERS",
    "HSTS_HEADER",
    "ResponseHeaders",
]

DEFAULT_SECURITY_HEADERS: Mapping[str, str] = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "permissions-policy": "geolocation=(), camera=(), microphone=()",
}
HSTS_HEADER = ("strict-transport-security", "max-age=63072000; includeSubDomains")
"""Sent only on responses to HTTPS requests (RFC 6797 §7.2)."""
DEFAULT_CREDENTIAL_HEADERS = ("Authorization", API_KEY_HEADER)

_VARY = b"vary"
_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")


def _encoded(name: str, value: str) -> Header:
    return name.lower().encode("latin-1"), value.encode("latin-1")


class ResponseHeaders:
    """Security headers on every response; ``no-store`` and ``Vary`` for credentials.

    The request-context layer applies it to every response it sends, the 500
    it makes of an unhandled error included.
    """

    def __init__(
        self,
        *,
        security_headers: Mapping[str, str] = DEFAULT_SECURITY_HEADERS,
        credential_headers: Sequence[str] = DEFAULT_CREDENTIAL_HEADERS,
    ) -> None:
        self.credentials = frozenset(name.lower().encode("latin-1") for name in credential_headers)
        self.vary = tuple(credential_headers)
        security = tuple(_encoded(name, value) for name, value in security_headers.items())
        vary = (_VARY, ", ".join(self.vary).encode("latin-1"))
        hsts = _encoded(*HSTS_HEADER)
        # What a response that sets none of these gets, by (private, https).
        self._added: dict[tuple[bool, bool], tuple[Header, ...]] = {
            (private, https): (
                *security,
                *((hsts,) if https else ()),
                *((vary,) if self.vary else ()),
                *((_NO_STORE,) if private else ()),
            )
            for private in (False, True)
            for https in (False, True)
        }
        self._concerned = frozenset(
            (*(name for name, _ in security), hsts[0], _VARY, _CACHE_CONTROL)
        )

    def complete(self, scope: Scope, headers: Iterable[Header], *extra: Header) -> list[Header]:
        """The headers of a response to ``scope``: the route's, ``extra`` and ours."""
        if type(headers) is not list:  # an ASGI app may send any iterable: it is read twice
            headers = list(headers)
        # Plain loops: a comprehension is a function call of its own on every response.
        private = False
        credentials = self.credentials
        for name, _ in scope["headers"]:  # lowercase in the scope, as Starlette assumes
            if name in credentials:
                private = True
                break
        https = scope.get("scheme") == "https"
        concerned = self._concerned
        for name, _ in headers:
            if name.lower() in concerned:
                return [*self._merged(headers, private=private, https=https), *extra]
        return [*headers, *extra, *self._added[private, https]]

    def _merged(self, headers: Iterable[Header], *, private: bool, https: bool) -> list[Header]:
        """The slow path: the route set a ``Vary``, a ``Cache-Control`` or a security header."""
        present = {name.lower() for name, _ in headers}
        kept: list[Header] = []
        varied: list[str] = []
        for name, value in headers:
            lowered = name.lower()
            if lowered == _VARY:
                varied += [item.strip() for item in value.decode("latin-1").split(",")]
            elif not (private and lowered == _CACHE_CONTROL):
                kept.append((name, value))
        seen = {item.lower() for item in varied}
        varied += [item for item in self.vary if item.lower() not in seen]
        kept.extend(
            header
            for header in self._added[private, https]
            if header[0] != _VARY and (header[0] not in present or header is _NO_STORE)
        )
        if any(varied):
            kept.append((_VARY, ", ".join(item for item in varied if item).encode("latin-1")))
        return kept
