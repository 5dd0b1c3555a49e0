"""Offline API docs: pages render, reference only local assets, and those are served."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tiered.http.docs import install_offline_docs

EXTERNAL_MARKERS = ("cdn", "googleapis", "jsdelivr", "unpkg")
URL_ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
EXPECTED_CONTENT_TYPES = {
    ".js": ("javascript",),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


def make_app() -> FastAPI:
    app = FastAPI(title="Docs test", docs_url=None, redoc_url=None)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    install_offline_docs(app)
    return app


@pytest.fixture
def app() -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def referenced_urls(html: str) -> list[str]:
    return URL_ATTRIBUTE.findall(html)


def assert_no_external_host(html: str) -> None:
    lowered = html.lower()
    for marker in EXTERNAL_MARKERS:
        assert marker not in lowered, f"docs page mentions {marker!r}"
    for url in referenced_urls(html):
        assert not re.match(r"(?i)^(https?:)?//", url), f"external URL {url!r}"


async def get_html(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_page_is_html_without_external_hosts(client: httpx.AsyncClient, path: str) -> None:
    html = await get_html(client, path)

    assert_no_external_host(html)


@pytest.mark.parametrize(
    ("path", "expected_assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
async def test_every_referenced_asset_is_served(
    client: httpx.AsyncClient, path: str, expected_assets: set[str]
) -> None:
    html = await get_html(client, path)
    urls = referenced_urls(html)

    assert {url.rsplit("/", 1)[-1] for url in urls} == expected_assets
    for url in urls:
        assert url.startswith("/_docs-assets/")
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.content, url
        suffix = url[url.rfind(".") :]
        content_type = response.headers["content-type"]
        assert any(part in content_type for part in EXPECTED_CONTENT_TYPES[suffix]), (
            url,
            content_type,
        )


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_page_loads_the_openapi_schema(client: httpx.AsyncClient, path: str) -> None:
    html = await get_html(client, path)

    assert "/openapi.json" in html
    assert (await client.get("/openapi.json")).status_code == 200


async def test_swagger_ui_points_at_the_oauth2_redirect_page(client: httpx.AsyncClient) -> None:
    html = await get_html(client, "/docs")

    assert "'/docs/oauth2-redirect'" in html


async def test_oauth2_redirect_page_posts_back_to_the_opener(client: httpx.AsyncClient) -> None:
    html = await get_html(client, "/docs/oauth2-redirect")

    assert "swaggerUIRedirectOauth2" in html


async def test_redoc_does_not_load_google_fonts(client: httpx.AsyncClient) -> None:
    html = await get_html(client, "/redoc")

    assert "fonts" not in html.lower()


async def test_swagger_ui_validator_badge_is_disabled(client: httpx.AsyncClient) -> None:
    html = await get_html(client, "/docs")

    assert '"validatorUrl": null' in html


def csp_directives(header: str) -> dict[str, set[str]]:
    directives: dict[str, set[str]] = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        directives[name] = set(sources)
    return directives


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_page_has_a_self_only_content_security_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    directives = csp_directives(response.headers["content-security-policy"])

    assert directives["default-src"] == {"'self'"}
    assert directives["script-src"] == {"'self'", "'unsafe-inline'"}
    assert directives["style-src"] == {"'self'", "'unsafe-inline'"}
    assert directives["img-src"] <= {"'self'", "data:"}
    for sources in directives.values():
        assert not any(source.startswith(("http:", "https:", "*")) for source in sources)


async def test_assets_are_not_given_the_docs_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/_docs-assets/swagger-ui.css")

    assert "content-security-policy" not in response.headers


async def test_docs_routes_are_absent_from_the_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    assert set(schema["paths"]) == {"/items/{item_id}"}


async def test_unknown_asset_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/_docs-assets/nope.js")

    assert response.status_code == 404


async def assert_served_under_prefix(client: httpx.AsyncClient, prefix: str) -> None:
    for path in ("/docs", "/redoc"):
        html = await get_html(client, f"{prefix}{path}")
        assert f"{prefix}/openapi.json" in html
        urls = referenced_urls(html)
        assert urls
        for url in urls:
            assert url.startswith(f"{prefix}/_docs-assets/")
            assert (await client.get(url)).status_code == 200, url
    docs = await get_html(client, f"{prefix}/docs")
    assert f"'{prefix}/docs/oauth2-redirect'" in docs
    assert (await client.get(f"{prefix}/openapi.json")).status_code == 200


async def test_root_path_of_the_server_prefixes_every_url() -> None:
    transport = httpx.ASGITransport(app=make_app(), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await assert_served_under_prefix(client, "/api")


@pytest.mark.filterwarnings("ignore:The `root_path` parameter is deprecated")
async def test_root_path_of_the_app_prefixes_every_url() -> None:
    app = FastAPI(docs_url=None, redoc_url=None, root_path="/api")
    install_offline_docs(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await assert_served_under_prefix(client, "/api")


async def test_custom_urls_and_openapi_url() -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url="/schema.json")
    install_offline_docs(app, docs_url="/ui", redoc_url="/ui/redoc", assets_url="/static/ui/")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        swagger = (await client.get("/ui")).text
        redoc = (await client.get("/ui/redoc")).text
        redirect = await client.get("/ui/oauth2-redirect")
        asset = await client.get("/static/ui/redoc.standalone.js")
        default_docs = await client.get("/docs")

    assert "'/schema.json'" in swagger
    assert '"/schema.json"' in redoc
    assert "/static/ui/swagger-ui-bundle.js" in swagger
    assert redirect.status_code == 200
    assert asset.status_code == 200
    assert default_docs.status_code == 404


def test_app_without_openapi_is_rejected() -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    with pytest.raises(ValueError, match="openapi_url"):
        install_offline_docs(app)


def test_relative_url_is_rejected() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)

    with pytest.raises(ValueError, match="docs_url"):
        install_offline_docs(app, docs_url="docs")


def test_assets_at_the_root_are_rejected() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)

    with pytest.raises(ValueError, match="assets_url"):
        install_offline_docs(app, assets_url="/")


async def test_swagger_ui_settings_of_the_app_are_used() -> None:
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        swagger_ui_parameters={"validatorUrl": "/validator", "docExpansion": "none"},
        swagger_ui_init_oauth={"clientId": "docs-client"},
    )
    install_offline_docs(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        html = await get_html(client, "/docs")

    assert '"validatorUrl": "/validator"' in html
    assert '"docExpansion": "none"' in html
    assert "docs-client" in html
    assert app.swagger_ui_parameters == {"validatorUrl": "/validator", "docExpansion": "none"}


async def test_redoc_bundle_loads_nothing_from_another_host(client: httpx.AsyncClient) -> None:
    response = await client.get("/_docs-assets/redoc.standalone.js")

    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "cdn.redoc.ly" not in response.text
    assert 'src:"data:image/svg+xml,' in response.text
    assert len(response.content) > 500_000


async def test_redoc_bundle_is_revalidated_by_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/_docs-assets/redoc.standalone.js")
    again = await client.get(
        "/_docs-assets/redoc.standalone.js", headers={"If-None-Match": first.headers["etag"]}
    )

    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_root_redirects_to_the_docs(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/")

    assert response.status_code == 307
    assert response.headers["location"] == "/docs"


async def test_root_redirect_keeps_the_mount_prefix() -> None:
    transport = httpx.ASGITransport(app=make_app(), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/")

    assert response.status_code == 307
    assert response.headers["location"] == "/api/docs"


async def test_root_is_404_without_the_redirect() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    install_offline_docs(app, redirect_root=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/docs")).status_code == 200


async def test_a_root_route_of_the_app_wins_over_the_redirect() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"home": "page"}

    install_offline_docs(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/")

    assert response.json() == {"home": "page"}


@pytest.mark.parametrize(
    "path", ["/docs", "/redoc", "/docs/oauth2-redirect", "/_docs-assets/redoc.standalone.js"]
)
async def test_pages_answer_head(client: httpx.AsyncClient, path: str) -> None:
    get = await client.get(path)
    head = await client.head(path)

    assert head.status_code == get.status_code == 200
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers.get("content-security-policy") == get.headers.get("content-security-policy")
