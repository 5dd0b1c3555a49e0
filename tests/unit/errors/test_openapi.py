"""Every operation in the OpenAPI document declares its problem responses."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict

from tiered.app import create_app
from tiered.errors import (
    AuthenticationError,
    ConflictError,
    DuplicateResourceError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    ProblemDetails,
    RateLimitError,
    StaleVersionError,
    document_problems,
    problem_responses,
)
from tiered.errors.openapi import EXAMPLE_REQUEST_ID
from tiered.settings import AppSettings
from tiered.testing import app_client

PROBLEM_REF = "#/components/schemas/ProblemDetails"
PROBLEM_JSON = "application/problem+json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class WidgetGoneError(NotFoundError):
    code = "WIDGET_GONE"

    def __init__(self, widget_id: int) -> None:
        super().__init__(f"Widget {widget_id} is gone.")


class Widget(BaseModel):
    """An example with a required ``null``: FastAPI's encoder drops it, the rewrite restores it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "w-7", "retired_at": None}]})

    id: str
    retired_at: str | None


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

    @router.get("/widgets/{widget_id}", responses=problem_responses(WidgetGoneError(7)))
    async def read_widget(widget_id: Annotated[str, Path(examples=["w-7"])]) -> Widget:
        return Widget(id=widget_id, retired_at=None)

    @router.get("/paint")
    async def paint(colour: Annotated[list[Colour] | None, Query()] = None) -> list[str]:
        return [str(item) for item in colour or []]

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
    assert set(responses[status]["content"]) == {PROBLEM_JSON}
    media = responses[status]["content"][PROBLEM_JSON]
    assert media["schema"] == {"$ref": PROBLEM_REF}
    assert media["examples"], f"{operation['operationId']} {status} has no example"
    for example in media["examples"].values():
        assert example["value"]["status"] == int(status)
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
                assert set(response["content"]) == {PROBLEM_JSON}, f"{method} {path} {status}"
                schema = response["content"][PROBLEM_JSON]["schema"]
                assert schema == {"$ref": PROBLEM_REF}, f"{method} {path} {status}"


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
    assert entries[409]["model"] is ProblemDetails


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


def examples_of(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    examples = entry["content"][PROBLEM_JSON]["examples"]
    return {name: example["value"] for name, example in examples.items()}


def test_a_status_is_documented_by_its_generic_class() -> None:
    entry = problem_responses(409)[409]
    assert examples_of(entry) == {
        "CONFLICT": {
            "type": "/problems/conflict",
            "title": "Conflict",
            "status": 409,
            "detail": ConflictError.description,
            "instance": "",
            "code": "CONFLICT",
            "request_id": EXAMPLE_REQUEST_ID,
        }
    }
    assert "headers" not in entry


def test_a_status_without_a_class_is_about_blank() -> None:
    (value,) = examples_of(problem_responses(405)[405]).values()
    assert value["type"] == "about:blank"
    assert (value["title"], value["code"]) == ("Method Not Allowed", "METHOD_NOT_ALLOWED")


def test_success_statuses_are_refused() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        problem_responses(200)


def test_a_class_is_documented_by_its_defaults() -> None:
    (value,) = examples_of(problem_responses(StaleVersionError)[409]).values()
    assert value["code"] == "STALE_VERSION"
    assert value["type"] == "/problems/stale-version"
    assert value["detail"] == StaleVersionError.description


def test_a_class_with_its_own_constructor_needs_an_instance() -> None:
    with pytest.raises(TypeError, match="declare an instance"):
        problem_responses(WidgetGoneError)
    (value,) = examples_of(problem_responses(WidgetGoneError(7))[404]).values()
    assert value["detail"] == "Widget 7 is gone."
    assert value["code"] == "WIDGET_GONE"


def test_problems_of_one_status_are_examples_named_by_code() -> None:
    entries = problem_responses(
        InvalidInputError(
            "Cannot sort by 'x'.",
            code="INVALID_SORT",
            errors=[FieldError("/sort", "unknown field 'x'", "query")],
        ),
        InvalidInputError("Bad page.", code="INVALID_PAGE"),
        InvalidInputError("Another bad page.", code="INVALID_PAGE"),
        DuplicateResourceError("Email taken.", details={"field": "email"}),
    )
    assert set(entries) == {400, 409}
    bad = entries[400]["content"][PROBLEM_JSON]["examples"]
    assert list(bad) == ["INVALID_SORT", "INVALID_PAGE", "INVALID_PAGE_2"]
    assert bad["INVALID_SORT"]["summary"] == "Cannot sort by 'x'."
    assert bad["INVALID_SORT"]["value"]["errors"] == [
        {"pointer": "/sort", "detail": "unknown field 'x'", "location": "query"}
    ]
    assert "errors" not in bad["INVALID_PAGE"]["value"]
    (conflict,) = examples_of(entries[409]).values()
    assert conflict["field"] == "email"


def test_headers_the_errors_send_are_declared() -> None:
    entries = problem_responses(RateLimitError(retry_after=3), AuthenticationError(), 503, 404)
    assert entries[429]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert set(entries[401]["headers"]) == {"WWW-Authenticate"}
    assert set(entries[503]["headers"]) == {"Retry-After"}
    assert "headers" not in entries[404]


def shape_violations(value: Any, schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    """A structural check of the keywords the problem schema uses."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return shape_violations(value, spec["components"]["schemas"][name], spec)
    if "anyOf" in schema:
        fits = any(not shape_violations(value, item, spec) for item in schema["anyOf"])
        return [] if fits else [f"{value!r} fits no option"]
    kinds = {"string": str, "integer": int, "null": type(None), "array": list, "object": dict}
    kind = schema.get("type")
    if kind is not None and not isinstance(value, kinds[kind]):
        return [f"{value!r} is not {kind}"]
    found = [f"missing {name}" for name in schema.get("required", []) if name not in value]
    for name, item in schema.get("properties", {}).items():
        if isinstance(value, dict) and name in value:
            found += shape_violations(value[name], item, spec)
    for item in value if isinstance(value, list) else []:
        found += shape_violations(item, schema.get("items", {}), spec)
    return found


def test_shape_violations_can_fail(spec: dict[str, Any]) -> None:
    ref = {"$ref": PROBLEM_REF}
    good = examples_of(problem_responses(409)[409])["CONFLICT"]
    assert shape_violations(good, ref, spec) == []
    assert shape_violations({**good, "status": "409"}, ref, spec)
    assert shape_violations({**good, "errors": [{"pointer": "/a"}]}, ref, spec)
    assert shape_violations({k: v for k, v in good.items() if k != "code"}, ref, spec)


def test_every_example_is_a_problem_of_its_status(spec: dict[str, Any]) -> None:
    checked = 0
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if not (status.isdigit() and int(status) >= 400):
                continue
            for example in response["content"][PROBLEM_JSON]["examples"].values():
                value = example["value"]
                where = f"{method} {path} {status}"
                assert shape_violations(value, {"$ref": PROBLEM_REF}, spec) == [], where
                ProblemDetails.model_validate(value)
                assert value["status"] == int(status), where
                assert value["instance"].startswith("/"), where
                assert "{" not in value["instance"], where
                checked += 1
    assert checked >= 30


def example(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    media = spec["paths"][path][method]["responses"][status]["content"][PROBLEM_JSON]
    (only,) = media["examples"].values()
    value: dict[str, Any] = only["value"]
    return value


def test_instances_are_the_path_with_sample_values(spec: dict[str, Any]) -> None:
    assert example(spec, "/things/{thing_id}", "get", "404")["instance"] == "/things/42"
    assert example(spec, "/widgets/{widget_id}", "get", "404")["instance"] == "/widgets/w-7"
    assert example(spec, "/things", "get", "500")["instance"] == "/things"


def test_declared_examples_are_kept(spec: dict[str, Any]) -> None:
    gone = example(spec, "/widgets/{widget_id}", "get", "404")
    assert (gone["code"], gone["detail"]) == ("WIDGET_GONE", "Widget 7 is gone.")
    conflict = example(spec, "/things", "post", "409")
    assert conflict["code"] == "CONFLICT"


def test_422_examples_name_a_value_that_can_fail(spec: dict[str, Any]) -> None:
    by_path = example(spec, "/things/{thing_id}", "put", "422")
    assert by_path["code"] == "REQUEST_VALIDATION_FAILED"
    assert by_path["errors"] == [
        {"pointer": "/thing_id", "detail": "Input should be a valid integer", "location": "path"}
    ]
    assert by_path["instance"] == "/things/abc"
    by_query = example(spec, "/things", "get", "422")
    assert by_query["errors"][0]["pointer"] == "/limit"
    assert by_query["errors"][0]["location"] == "query"
    by_body = example(spec, "/things", "post", "422")
    assert by_body["errors"] == [
        {"pointer": "/name", "detail": "Field required", "location": "body"}
    ]


def test_422_example_of_an_enum_list(spec: dict[str, Any]) -> None:
    assert example(spec, "/paint", "get", "422")["errors"] == [
        {"pointer": "/colour/0", "detail": "Input should be 'red' or 'blue'", "location": "query"}
    ]


def test_422_example_invents_no_value_when_none_can_fail(spec: dict[str, Any]) -> None:
    generic = example(spec, "/problems/{slug}", "get", "422")
    assert generic["code"] == "REQUEST_VALIDATION_FAILED"
    assert "errors" not in generic


def test_generic_503_declares_retry_after(spec: dict[str, Any]) -> None:
    headers = spec["paths"]["/ping"]["get"]["responses"]["503"]["headers"]
    assert headers["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
    assert "headers" not in spec["paths"]["/ping"]["get"]["responses"]["500"]


def test_nulls_fastapi_drops_from_examples_are_restored(spec: dict[str, Any]) -> None:
    widget = spec["components"]["schemas"]["Widget"]
    assert widget["examples"] == [{"id": "w-7", "retired_at": None}]


async def test_a_body_that_is_not_text_is_a_declared_400() -> None:
    app = create_app(
        AppSettings(database_url="sqlite+aiosqlite:///:memory:"),
        title="t",
        routers=[build_router()],
    )
    assert_problem_response(app.openapi()["paths"]["/things"]["post"], "400")
    async with app_client(app) as client:
        response = await client.post(
            "/things", content=b"\xff\xfe{", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
