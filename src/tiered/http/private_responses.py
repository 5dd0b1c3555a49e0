"""Keep responses to credentialed requests out of every shared cache.

A response to a request that carries credentials is about one caller: a proxy
or browser cache must not keep it for the next one. FastAPI's injected
``Response`` headers are dropped when a route returns its own ``Response``,
so this is a pure ASGI layer and covers every route alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiered.security.api_keys import API_KEY_HEADER

__all__ = ["DEFAULT_CREDENTIAL_HEADERS", "PrivateResponsesMiddleware"]

DEFAULT_CREDENTIAL_HEADERS = ("Authorization", API_KEY_HEADER)


class PrivateResponsesMiddleware:
    """``Cache-Control: no-store`` when a request carries credentials; ``Vary`` always.

    A request with one of ``credential_headers`` gets ``no-store``, replacing
    whatever the route set. Every response gets ``Vary`` on those headers
    (merged with the route's own ``Vary``), because what a route shows depends
    on who asks even when nobody is signed in.
    """

    def __init__(
        self, app: ASGIApp, credential_headers: Sequence[str] = DEFAULT_CREDENTIAL_HEADERS
    ) -> None:
        self.app = app
        self.credentials = frozenset(name.lower().encode("latin-1") for name in credential_headers)
        self.vary = tuple(credential_headers)
        self.vary_header = (b"vary", ", ".join(self.vary).encode("latin-1"))
        """What a response without a ``Vary`` of its own gets."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = any(name.lower() in self.credentials for name, _ in scope["headers"])

        async def send_private(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._headers(message.get("headers", ()), private=private)
            await send(message)

        await self.app(scope, receive, send_private)

    def _headers(
        self, headers: Iterable[tuple[bytes, bytes]], *, private: bool
    ) -> list[tuple[bytes, bytes]]:
        kept: list[tuple[bytes, bytes]] = []
        varied: list[str] | None = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"vary":
                varied = (varied or []) + [
                    item.strip() for item in value.decode("latin-1").split(",")
                ]
            elif not (private and lowered == b"cache-control"):
                kept.append((name, value))
        if varied is None:
            kept.append(self.vary_header)
        else:
            present = {item.lower() for item in varied}
            varied += [item for item in self.vary if item.lower() not in present]
            kept.append((b"vary", ", ".join(item for item in varied if item).encode("latin-1")))
        if private:
            kept.append((b"cache-control", b"no-store"))
        return kept
