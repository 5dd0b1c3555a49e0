"""Interactive API docs (Swagger UI and ReDoc) that work without internet access.

FastAPI's built-in ``/docs`` and ``/redoc`` pages load their JavaScript, CSS,
favicon and fonts from public CDNs. That breaks on air-gapped networks, behind
strict egress proxies and on a developer's laptop on a train, and it leaks every
docs visit to third parties. The ``fastapi-offline`` distribution already ships
the very same assets; this module serves them from the application itself and
renders FastAPI's own docs pages pointing at them, so the pages look and behave
exactly like the stock ones.

The pages are also served with their own ``Content-Security-Policy``: a
security-headers middleware that only adds a (stricter) policy when the
response has none then leaves these pages working, while every other response
keeps the strict default.

ReDoc's bundle hard-codes one remote URL, the Redocly logo in its sidebar
footer. The bundle is served with that URL replaced by an inline image, so the
page makes no request to any other host (a blocked request would still be a
console error).

``/`` redirects to the docs: it is where a person lands first, and an API
without a home page otherwise answers it with a bare 404.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from tiered.http.conditional import etag_of, is_not_modified, not_modified

__all__ = ["install_offline_docs"]

_ASSETS_PACKAGE = "fastapi_offline"
_ASSETS_DIR = "static"
_ASSETS_MOUNT_NAME = "offline-docs-assets"
_REDOC_BUNDLE = "redoc.standalone.js"
_REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# An empty, transparent image: the footer keeps its "API docs by Redocly" link.
_REDOC_LOCAL_LOGO = (
    "data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27 viewBox=%270 0 1 1%27/%3E"
)
_READ_METHODS = ["GET", "HEAD"]

# The policy of every docs page. Everything comes from our own origin; the
# exceptions are each needed by the bundled UIs, not by convenience:
# ``'unsafe-inline'`` scripts for the inline ``SwaggerUIBundle(...)`` /
# oauth2-redirect bootstrap that FastAPI renders (its content varies with the
# app, so a fixed hash cannot cover it); ``'unsafe-inline'`` styles because
# ReDoc injects ``<style>`` elements (styled-components); ``data:`` images and
# fonts for the icons embedded in the Swagger UI and ReDoc bundles; ``blob:``
# workers because ReDoc runs its search index in a worker built from a Blob.
# Nothing in the pages needs another host, so nothing else is allowed: a
# future bundle that calls out is stopped by the browser instead of leaking.
_DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)


def _assets_directory() -> str:
    """Return the filesystem path of ``fastapi_offline/static``.

    ``StaticFiles`` needs a real directory. Installed wheels are always
    unpacked on disk, so ``as_file`` returns the directory itself and the
    context exit deletes nothing; it fails loudly if the package ever ships
    zipped, instead of serving 404s.
    """
    resource = files(_ASSETS_PACKAGE).joinpath(_ASSETS_DIR)
    with as_file(resource) as path:
        if not path.joinpath("swagger-ui-bundle.js").is_file():
            msg = f"{_ASSETS_PACKAGE} has no docs assets in {path}"
            raise RuntimeError(msg)
        return str(path)


@cache
def _offline_redoc_bundle() -> tuple[bytes, str]:
    """ReDoc's bundle with its remote logo made inline, and the ETag of the result."""
    path = Path(_assets_directory(), _REDOC_BUNDLE)
    source = path.read_text(encoding="utf-8")
    bundle = source.replace(_REDOC_REMOTE_LOGO, _REDOC_LOCAL_LOGO).encode("utf-8")
    return bundle, etag_of(bundle)


async def _redoc_bundle(request: Request) -> Response:
    bundle, etag = _offline_redoc_bundle()
    headers = {"Cache-Control": "no-cache"}
    if is_not_modified(request, etag):
        return not_modified(etag, headers)
    return Response(
        bundle,
        media_type="text/javascript; charset=utf-8",
        headers={**headers, "ETag": etag},
    )


def _with_csp(response: HTMLResponse) -> HTMLResponse:
    """Attach the docs policy, which the inline bootstrap scripts rely on."""
    response.headers["Content-Security-Policy"] = _DOCS_CONTENT_SECURITY_POLICY
    return response


def _root_path(request: Request) -> str:
    """The mount prefix (``app.root_path`` or a proxy's), without trailing slash.

    FastAPI copies ``app.root_path`` into the scope, and ASGI servers put a
    proxy's ``--root-path`` there too, so the scope is the one source of truth.
    """
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def install_offline_docs(
    app: FastAPI,
    *,
    docs_url: str = "/docs",
    redoc_url: str = "/redoc",
    assets_url: str = "/_docs-assets",
    redirect_root: bool = True,
) -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` from local assets.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN
    pages do not exist next to these. The Swagger UI OAuth2 redirect page is
    served at ``docs_url + "/oauth2-redirect"``. The pages are left out of the
    OpenAPI schema: they are tooling, not API. Every page answers HEAD too.

    With ``redirect_root``, ``/`` answers ``307 Temporary Redirect`` to
    ``docs_url``: temporary, so browsers do not remember it and ``/`` stays
    free for a home page later. A ``/`` route registered before this call
    wins over the redirect.

    Raises ``ValueError`` when the app has no OpenAPI schema (``openapi_url``
    is ``None``): docs without a schema would only render an error.
    """
    openapi_url = app.openapi_url
    if openapi_url is None:
        msg = "install_offline_docs needs an app with an openapi_url"
        raise ValueError(msg)
    for name, url in (("docs_url", docs_url), ("redoc_url", redoc_url), ("assets_url", assets_url)):
        if not url.startswith("/"):
            msg = f"{name} must start with '/', got {url!r}"
            raise ValueError(msg)

    assets_url = assets_url.rstrip("/")
    if not assets_url:
        msg = "assets_url must not be '/': the assets mount would shadow every route"
        raise ValueError(msg)
    oauth2_redirect_url = docs_url.rstrip("/") + "/oauth2-redirect"
    # Swagger UI's validator badge would load an image from validator.swagger.io.
    swagger_ui_parameters: dict[str, Any] = {
        "validatorUrl": None,
        **(app.swagger_ui_parameters or {}),
    }

    # Registered before the mount, which would otherwise serve the bundle as shipped.
    app.add_api_route(
        f"{assets_url}/{_REDOC_BUNDLE}",
        _redoc_bundle,
        methods=_READ_METHODS,
        include_in_schema=False,
    )
    app.mount(
        assets_url,
        StaticFiles(directory=_assets_directory()),
        name=_ASSETS_MOUNT_NAME,
    )

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return _with_csp(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=root + oauth2_redirect_url,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_js_url=f"{root}{assets_url}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{assets_url}/swagger-ui.css",
                swagger_favicon_url=f"{root}{assets_url}/favicon.png",
                swagger_ui_parameters=swagger_ui_parameters,
            )
        )

    async def swagger_ui_oauth2_redirect_html() -> HTMLResponse:
        return _with_csp(get_swagger_ui_oauth2_redirect_html())

    async def redoc_html(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return _with_csp(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{assets_url}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{assets_url}/favicon.png",
                with_google_fonts=False,
            )
        )

    async def to_docs(request: Request) -> RedirectResponse:
        return RedirectResponse(_root_path(request) + docs_url, status_code=307)

    for url, page in (
        (docs_url, swagger_ui_html),
        (oauth2_redirect_url, swagger_ui_oauth2_redirect_html),
        (redoc_url, redoc_html),
    ):
        app.add_api_route(
            url, page, methods=_READ_METHODS, include_in_schema=False, response_class=HTMLResponse
        )
    if redirect_root and docs_url != "/":
        app.add_api_route(
            "/",
            to_docs,
            methods=_READ_METHODS,
            include_in_schema=False,
            response_class=RedirectResponse,
        )
