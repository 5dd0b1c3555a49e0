"""Declare problem responses in the OpenAPI document, with examples a client can really get.

Clients and schema-driven fuzzers read the spec to learn what a route may
answer; an undeclared 422 or 503 is a conformance failure, and an example
that no request can produce misleads. Routes declare the problems they raise
on purpose with :func:`problem_responses` — as statuses, error classes or
error instances — and every example is rendered by the function that renders
the real response, so examples cannot drift from the wire.
:func:`document_problems` then adds what every route can produce, puts all of
them under ``application/problem+json`` with the :class:`ProblemDetails`
schema, and fills each example's ``instance`` in from the route's path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from tiered.errors.hierarchy import AppError, FieldError, UnprocessableContentError
from tiered.errors.problem import (
    PROBLEM_MEDIA_TYPE,
    ProblemDetails,
    problem_document,
    status_document,
)

__all__ = ["EXAMPLE_REQUEST_ID", "ProblemSpec", "document_problems", "problem_responses"]

ProblemSpec = int | type[AppError] | AppError
"""What a route declares: a status, an error class, or an error exactly as it is raised."""

EXAMPLE_REQUEST_ID = "6f1c2d3e4a5b4c6d8e7f0a1b2c3d4e5f"
_EXAMPLE_UUID = "0b6f3c1e-5d2a-4f8e-9c7b-1a2d3e4f5a6b"
_SCHEMA_NAME = "ProblemDetails"
_REF = {"$ref": f"#/components/schemas/{_SCHEMA_NAME}"}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_LOCATIONS = ("path", "query", "header", "cookie")
_HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": "The authentication scheme the route accepts.",
        "schema": {"type": "string"},
    },
}

_Rendered = tuple[dict[str, Any], list[str]]
"""An example problem body and the names of the headers sent with it."""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _generic_class(status: int) -> type[AppError] | None:
    """tiered's most general public error class for ``status``, searched breadth first."""
    queue: list[type[AppError]] = [AppError]
    while queue:
        cls = queue.pop(0)
        public = cls.__module__ == AppError.__module__ and not cls.__name__.startswith("_")
        if public and cls.status == status:
            return cls
        queue.extend(cls.__subclasses__())
    return None


def _instance_of(cls: type[AppError]) -> AppError:
    """The class's defaults, its description as the detail.

    A class with its own constructor (``MarketNotFoundError(market_id)``) builds
    its detail from arguments, so guessing them would document a sentence the
    API never says: pass an instance instead.
    """
    owner = next(klass for klass in cls.__mro__ if "__init__" in vars(klass))
    if owner.__module__ != AppError.__module__:
        raise TypeError(
            f"{cls.__name__} takes its own constructor arguments; "
            f"declare an instance, e.g. problem_responses({cls.__name__}(...))"
        )
    return cls(cls.description)


def _render(problem: ProblemSpec) -> _Rendered:
    if isinstance(problem, int):
        if problem < 400:
            raise ValueError(f"problem statuses are 4xx or 5xx, not {problem}")
        cls = _generic_class(problem)
        if cls is None:
            return status_document(problem, instance="", request_id=EXAMPLE_REQUEST_ID), []
        problem = cls
    error = problem if isinstance(problem, AppError) else _instance_of(problem)
    body = problem_document(error, instance="", request_id=EXAMPLE_REQUEST_ID)
    return body, list(error.headers())


def _named_examples(rendered: Iterable[_Rendered]) -> dict[str, dict[str, Any]]:
    """One named example per problem, named by its code (what a client switches on)."""
    examples: dict[str, dict[str, Any]] = {}
    for body, _ in rendered:
        name, n = body["code"], 1
        while name in examples:
            n += 1
            name = f"{body['code']}_{n}"
        examples[name] = {"summary": body["detail"], "value": body}
    return examples


def _header_docs(rendered: Iterable[_Rendered]) -> dict[str, dict[str, Any]]:
    names = sorted({name for _, headers in rendered for name in headers})
    generic = {"description": "Sent with this problem.", "schema": {"type": "string"}}
    return {name: dict(_HEADERS.get(name, generic)) for name in names}


def problem_responses(*problems: ProblemSpec) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the problems a route raises on purpose.

    Each problem is a status (documented by tiered's generic class for it, such
    as ``409`` → ``ConflictError``), an error class (its defaults), or an error
    instance (exactly what it renders: code, detail, extension members, field
    errors). Problems sharing a status become named examples of one response,
    one per ``code``; headers the errors send (``Retry-After``…) are declared.
    """
    by_status: dict[int, list[_Rendered]] = {}
    for problem in problems:
        rendered = _render(problem)
        by_status.setdefault(rendered[0]["status"], []).append(rendered)
    entries: dict[int | str, dict[str, Any]] = {}
    for status, rendered_list in by_status.items():
        entry: dict[str, Any] = {
            "model": ProblemDetails,
            "description": _phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {"examples": _named_examples(rendered_list)}},
        }
        headers = _header_docs(rendered_list)
        if headers:
            entry["headers"] = headers
        entries[status] = entry
    return entries


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = [item for item in schema.get("anyOf", []) if item.get("type") != "null"]
    return options[0] if len(options) == 1 else schema


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    name = ref.removeprefix("#/components/schemas/")
    resolved: dict[str, Any] = components.get(name, schema) if ref else schema
    return resolved


def _one_of(values: list[Any]) -> str:
    quoted = [f"'{value}'" for value in values]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"Input should be {listed}"


def _type_error(schema: dict[str, Any], components: dict[str, Any]) -> tuple[str, str] | None:
    """Where under a value, and what pydantic says, when it is wrong; ``None`` if nothing is."""
    schema = _resolve(_non_null(schema), components)
    if schema.get("type") == "array":
        inner = _type_error(schema.get("items", {}), components)
        return None if inner is None else (f"/0{inner[0]}", inner[1])
    if "enum" in schema:
        return "", _one_of(schema["enum"])
    if schema.get("format") == "uuid":
        return "", "Input should be a valid UUID"
    if schema.get("type") in {"integer", "number", "boolean"}:
        return "", f"Input should be a valid {schema['type']}"
    if "minLength" in schema:
        count = schema["minLength"]
        return "", f"String should have at least {count} character{'s' if count != 1 else ''}"
    return None


def _invalid_field(operation: dict[str, Any], components: dict[str, Any]) -> FieldError | None:
    """A value of this operation that can really fail validation, for the 422 example."""
    parameters = sorted(
        operation.get("parameters", []),
        key=lambda item: _LOCATIONS.index(item.get("in", "cookie")),
    )
    for parameter in parameters:
        pointer, location = f"/{parameter['name']}", parameter["in"]
        wrong = _type_error(parameter.get("schema", {}), components)
        if wrong is not None:
            return FieldError(pointer + wrong[0], wrong[1], location)
        if parameter.get("required") and location != "path":
            return FieldError(pointer, "Field required", location)
    for media in operation.get("requestBody", {}).get("content", {}).values():
        required = _resolve(media.get("schema", {}), components).get("required", [])
        if required:
            return FieldError(f"/{required[0]}", "Field required", "body")
        return FieldError("", "JSON decode error", "body")
    return None


def _sample(parameter: dict[str, Any] | None) -> str:
    """A value for a path parameter: its declared example, else one of its type."""
    parameter = parameter or {}
    schema = _non_null(parameter.get("schema", {}))
    examples = parameter.get("examples") or {}
    candidates = [
        parameter.get("example"),
        *(item.get("value") for item in examples.values()),
        *(schema.get("examples") or []),
        schema.get("example"),
    ]
    found = next((value for value in candidates if value is not None), None)
    if found is not None:
        return str(found)
    if schema.get("format") == "uuid":
        return _EXAMPLE_UUID
    return "42" if schema.get("type") == "integer" else "example"


def _wrong(parameter: dict[str, Any]) -> str:
    """A value the parameter refuses: what the 422 example's ``instance`` must contain."""
    schema = _non_null(parameter.get("schema", {}))
    if schema.get("format") == "uuid":
        return "not-a-uuid"
    if "minLength" in schema:
        return ""
    return {"integer": "abc", "number": "abc", "boolean": "maybe"}.get(
        schema.get("type", ""), "unknown"
    )


def _instance(path: str, operation: dict[str, Any], invalid: FieldError | None = None) -> str:
    """``path`` with sample values, the one ``invalid`` names (if any) made wrong."""
    parameters = {
        item["name"]: item for item in operation.get("parameters", []) if item.get("in") == "path"
    }
    wrong = invalid.pointer[1:] if invalid is not None and invalid.location == "path" else None

    def value(match: re.Match[str]) -> str:
        parameter = parameters.get(match[1])
        if match[1] == wrong and parameter is not None:
            return _wrong(parameter)
        return _sample(parameter)

    return re.sub(r"\{([^}]+)\}", value, path)


def _problem_response(
    status: str, path: str, operation: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    declared = operation["responses"].get(status) or {}
    media = declared.get("content", {}).get(PROBLEM_MEDIA_TYPE, {})
    instance = _instance(path, operation)
    if not media.get("examples"):
        is_422 = int(status) == UnprocessableContentError.status
        field = _invalid_field(operation, components) if is_422 else None
        if field is not None:
            instance = _instance(path, operation, field)
            error = UnprocessableContentError("The request has 1 invalid value.", errors=[field])
            declared = problem_responses(error)[422]
        else:
            declared = problem_responses(int(status))[int(status)]
        media = declared["content"][PROBLEM_MEDIA_TYPE]
    examples = {
        name: example
        if example.get("value", {}).get("instance")
        else {**example, "value": {**example["value"], "instance": instance}}
        for name, example in media["examples"].items()
    }
    response: dict[str, Any] = {
        "description": _phrase(int(status)),
        "content": {PROBLEM_MEDIA_TYPE: {"schema": dict(_REF), "examples": examples}},
    }
    if declared.get("headers"):
        response["headers"] = declared["headers"]
    return response


def _allows_null(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    schema = _resolve(schema, components)
    kinds = schema.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(_allows_null(option, components) for option in schema.get("anyOf", []))


def _restore_nulls(example: Any, schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Put back the ``null`` members FastAPI's final encoding drops from examples.

    ``get_openapi`` encodes the whole document with ``exclude_none``, so an
    example of a required, nullable member loses it and no longer validates. A
    required member an example lacks can only have been ``null``.
    """
    schema = _resolve(schema, components)
    if isinstance(example, list):
        for item in example:
            _restore_nulls(item, schema.get("items", {}), components)
        return
    if not isinstance(example, dict):
        return
    options = [item for item in schema.get("anyOf", []) if not _allows_null(item, components)]
    if len(options) == 1:
        _restore_nulls(example, options[0], components)
        return
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in example and _allows_null(properties.get(name, {}), components):
            example[name] = None
    for name, value in example.items():
        if name in properties:
            _restore_nulls(value, properties[name], components)


def _restore_example_nulls(schema: dict[str, Any], components: dict[str, Any]) -> None:
    for component in components.values():
        for example in component.get("examples", []) if isinstance(component, dict) else []:
            _restore_nulls(example, component, components)
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            for response in operation.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    for example in media.get("examples", {}).values():
                        _restore_nulls(example.get("value"), media.get("schema", {}), components)


def _statuses_every_route_may_return(path: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["500", "503"]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append("422")
    if operation.get("requestBody"):
        # A body that is not even text (invalid UTF-8) is a 400 before validation runs.
        statuses.extend(("400", "413"))
    if "{" in path:
        statuses.append("404")
    return statuses


def _rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components[_SCHEMA_NAME] = problem_schema
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in _statuses_every_route_may_return(path, operation):
                responses.setdefault(status, {})
            for status in list(responses):
                if status.isdigit() and int(status) >= 400:
                    responses[status] = _problem_response(status, path, operation, components)
    _restore_example_nulls(schema, components)
    _drop_if_unreferenced(schema, "HTTPValidationError")
    if _is_fastapi_validation_error(components.get("ValidationError")):
        _drop_if_unreferenced(schema, "ValidationError")
    return schema


def _drop_if_unreferenced(schema: dict[str, Any], name: str) -> None:
    """Webhooks keep FastAPI's own 422, so its schemas may still be needed."""
    if f'"#/components/schemas/{name}"' not in json.dumps(schema):
        schema["components"]["schemas"].pop(name, None)


def _is_fastapi_validation_error(component: Any) -> bool:
    """FastAPI's own item schema (``loc``/``msg``/``type``), not an application model."""
    properties = component.get("properties", {}) if isinstance(component, dict) else {}
    return {"loc", "msg", "type"} <= set(properties)


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare problem+json, with examples, for every error response.

    It also puts back the ``null`` members FastAPI drops from every example, so
    examples validate against their own schemas.

    Wraps whatever ``app.openapi`` is at the time (FastAPI's own or an
    override), so the app's metadata, servers, tags and webhooks stay as that
    builds them. The result is cached in ``app.openapi_schema``, as FastAPI
    does: set it to ``None`` to rebuild.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _rewrite(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
