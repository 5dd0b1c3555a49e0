"""Every operation in the OpenAPI document declares its problem responses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel

from tiered.app import create_app
from tiered.errors import document_problems, problem_responses
from tiered.settings import AppSettings

PROBLEM_REF = "#/components/schemas/ProblemDetails"
PROBLEM_JSON = "application/problem+json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


class ThingIn(BaseModel):
    name: str


class ThingOut(BaseModel):
    id: int
    name: str


def build_router() -> APIRouter:
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @router.get("/things")
    async def list_things(limit: int = Query(default=10, le=100)) -> list[ThingOut]:
        return []

    @router.post("/things", status_code=201, responses=problem_responses(409))
    async def create_thing(thing: ThingIn) -> ThingOut:
        return ThingOut(id=1, name=thing.name)

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: int) -> ThingOut:
        return ThingOut(id=thing_id, name="x")

    @router.put("/things/{thing_id}", responses=problem_responses(409, 412))
    async def replace_thing(thing_id: int, thing: ThingIn) -> ThingOut:
        return ThingOut(id=thing_id, name=thing.name)

    @router.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: int) -> None:
        return None

    return router


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app = create_app(
        AppSettings(database_url="sqlite+aiosqlite:///:memory:"),
        title="t",
        routers=[build_router()],
    )
    return app.openapi()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def assert_problem_response(operation: dict[str, Any], status: str) -> None:
    responses = operation["responses"]
    assert status in responses, f"{operation['operationId']} lacks {status}"
    assert responses[status]["content"] == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    assert responses[status]["description"]


def test_operations_include_the_test_routes(spec: dict[str, Any]) -> None:
    found = {(path, method) for path, method, _ in operations(spec)}
    assert {
        ("/ping", "get"),
        ("/things", "get"),
        ("/things", "post"),
        ("/things/{thing_id}", "get"),
        ("/things/{thing_id}", "put"),
        ("/things/{thing_id}", "delete"),
        ("/problems/{slug}", "get"),
    } <= found


def test_every_operation_declares_500_and_503(spec: dict[str, Any]) -> None:
    for _, _, operation in operations(spec):
        assert_problem_response(operation, "500")
        assert_problem_response(operation, "503")


def test_422_where_there_are_parameters_or_a_body(spec: dict[str, Any]) -> None:
    checked = 0
    for path, method, operation in operations(spec):
        if operation.get("parameters") or operation.get("requestBody"):
            assert_problem_response(operation, "422")
            checked += 1
        else:
            assert "422" not in operation["responses"], f"{method} {path}"
    assert checked >= 5
    assert "422" not in spec["paths"]["/ping"]["get"]["responses"]


def test_413_where_there_is_a_body(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        if operation.get("requestBody"):
            assert_problem_response(operation, "413")
        else:
            assert "413" not in operation["responses"], f"{method} {path}"
    assert_problem_response(spec["paths"]["/things"]["post"], "413")
    assert_problem_response(spec["paths"]["/things/{thing_id}"]["put"], "413")


def test_404_where_there_are_path_parameters(spec: dict[str, Any]) -> None:
    for path, _, operation in operations(spec):
        if "{" in path:
            assert_problem_response(operation, "404")
    for method in ("get", "put", "delete"):
        assert_problem_response(spec["paths"]["/things/{thing_id}"][method], "404")
    assert "404" not in spec["paths"]["/ping"]["get"]["responses"]


def test_every_error_response_is_a_problem(spec: dict[str, Any]) -> None:
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.isdigit() and int(status) >= 400:
                assert response["content"] == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}, (
                    f"{method} {path} {status}"
                )


def test_success_responses_are_untouched(spec: dict[str, Any]) -> None:
    created = spec["paths"]["/things"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ThingOut"
    }


def test_declared_problem_responses_appear(spec: dict[str, Any]) -> None:
    assert_problem_response(spec["paths"]["/things"]["post"], "409")
    replace = spec["paths"]["/things/{thing_id}"]["put"]
    assert_problem_response(replace, "409")
    assert_problem_response(replace, "412")
    assert replace["responses"]["412"]["description"] == "Precondition Failed"
    assert "409" not in spec["paths"]["/things/{thing_id}"]["get"]["responses"]


def test_fastapi_validation_schemas_are_gone(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert not any("HTTPValidationError" in ref for ref in refs(spec))


def test_problem_schema_has_the_rfc_9457_members(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail", "instance", "code", "request_id", "errors"} <= set(
        schema["properties"]
    )
    assert {"type", "title", "status", "detail", "instance", "code"} <= set(schema["required"])
    assert schema.get("additionalProperties") is True, "extension members are allowed"
    errors = schema["properties"]["errors"]
    field_ref = "#/components/schemas/FieldErrorModel"
    assert field_ref in set(refs(errors))
    field_error = spec["components"]["schemas"]["FieldErrorModel"]
    assert {"pointer", "detail", "location"} <= set(field_error["properties"])


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    all_refs = set(refs(spec))
    assert PROBLEM_REF in all_refs
    for ref in all_refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_openapi_is_computed_once(spec: dict[str, Any]) -> None:
    app = create_app(
        AppSettings(database_url="sqlite+aiosqlite:///:memory:"), title="t", routers=[]
    )
    assert app.openapi() is app.openapi()


def test_document_problems_on_a_plain_fastapi_app() -> None:
    app = FastAPI()

    @app.get("/items/{item_id}", responses=problem_responses(403))
    async def read_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    document_problems(app)
    operation = app.openapi()["paths"]["/items/{item_id}"]["get"]
    for status in ("403", "404", "422", "500", "503"):
        assert_problem_response(operation, status)
    assert "HTTPValidationError" not in app.openapi()["components"]["schemas"]


def test_problem_responses_entries() -> None:
    entries = problem_responses(404, 409)
    assert set(entries) == {404, 409}
    assert entries[409]["description"] == "Conflict"


class ValidationError(BaseModel):
    """An application model that happens to share a name with FastAPI's schema."""

    row: int
    message: str


class ImportReport(BaseModel):
    errors: list[ValidationError]


def test_application_model_named_validation_error_survives() -> None:
    router = APIRouter()

    @router.get("/report")
    async def report() -> ImportReport:
        return ImportReport(errors=[])

    app = create_app(
        AppSettings(database_url="sqlite+aiosqlite:///:memory:"), title="t", routers=[router]
    )
    spec = app.openapi()
    for ref in refs(spec):
        assert ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"], ref


def test_problem_pages_document_html_and_json() -> None:
    from tiered.app import create_app
    from tiered.settings import AppSettings

    schema = create_app(AppSettings(), title="t").openapi()
    for path in ("/problems", "/problems/{slug}"):
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(content) == {"text/html", "application/json"}, path


CONTACT = {"name": "API team", "url": "https://shop.example/", "email": "api@shop.example"}


class Subscription(BaseModel):
    user: str


def metadata_app() -> FastAPI:
    app = FastAPI(
        title="shop",
        version="2.3.4",
        summary="Things, sold.",
        description="The shop's API.",
        terms_of_service="https://shop.example/terms",
        contact=CONTACT,
        license_info={"name": "Apache 2.0", "identifier": "Apache-2.0"},
        servers=[{"url": "https://api.shop.example", "description": "production"}],
        openapi_tags=[{"name": "things", "description": "What the shop sells."}],
    )
    app.openapi_version = "3.1.1"

    @app.get("/things/{thing_id}", tags=["things"])
    async def read_thing(thing_id: int) -> ThingOut:
        return ThingOut(id=thing_id, name="x")

    @app.webhooks.post("thing-sold")
    async def thing_sold(body: Subscription) -> None:
        return None

    return app


def test_document_problems_keeps_the_apps_metadata() -> None:
    app = metadata_app()
    expected = app.openapi()
    app.openapi_schema = None
    document_problems(app)
    spec = app.openapi()
    assert spec["openapi"] == "3.1.1"
    assert spec["info"] == {
        "title": "shop",
        "version": "2.3.4",
        "summary": "Things, sold.",
        "description": "The shop's API.",
        "termsOfService": "https://shop.example/terms",
        "contact": CONTACT,
        "license": {"name": "Apache 2.0", "identifier": "Apache-2.0"},
    }
    assert spec["servers"] == [{"url": "https://api.shop.example", "description": "production"}]
    assert spec["tags"] == [{"name": "things", "description": "What the shop sells."}]
    assert spec["webhooks"] == expected["webhooks"]
    assert "thing-sold" in spec["webhooks"]
    assert_problem_response(spec["paths"]["/things/{thing_id}"]["get"], "404")
    for ref in refs(spec):
        assert ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"], ref


def test_document_problems_wraps_an_openapi_override() -> None:
    app = metadata_app()
    default_openapi = app.openapi
    calls = 0

    def custom_openapi() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        schema = default_openapi()
        schema["info"]["x-logo"] = {"url": "https://shop.example/logo.png"}
        return schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    document_problems(app)
    spec = app.openapi()
    assert spec["info"]["x-logo"] == {"url": "https://shop.example/logo.png"}
    assert_problem_response(spec["paths"]["/things/{thing_id}"]["get"], "500")
    assert app.openapi() is spec
    assert calls == 1


def test_document_problems_rebuilds_when_the_cache_is_cleared() -> None:
    app = metadata_app()
    document_problems(app)
    first = app.openapi()
    assert app.openapi_schema is first

    @app.post("/things")
    async def create_thing(thing: ThingIn) -> ThingOut:
        return ThingOut(id=1, name=thing.name)

    assert "/things" not in app.openapi()["paths"]
    app.openapi_schema = None
    rebuilt = app.openapi()
    assert rebuilt is not first
    assert_problem_response(rebuilt["paths"]["/things"]["post"], "413")
    assert rebuilt["info"]["contact"]["email"] == "api@shop.example"
