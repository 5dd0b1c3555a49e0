"""Role-based access control: the policy map, principals, and the FastAPI guards (OWASP API5).

No ``from __future__ import annotations`` here: the routes are built in a loop, and FastAPI
must see each closure's guard in its annotation, not a string it cannot resolve.
"""

import json
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request

from tiered.app import create_app
from tiered.errors import ConfigurationError, install_problem_handlers
from tiered.security.rbac import (
    AccessControl,
    AnyPrincipal,
    Principal,
    RolePermissions,
    current_principal,
    permission_problems,
    require_permission,
    require_role,
    role_problems,
)
from tiered.settings import AppSettings
from tiered.testing import app_client


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


POLICY = RolePermissions(
    Role,
    Permission,
    {
        Role.USER: {Permission.READ, Permission.WRITE},
        Role.MODERATOR: {Permission.READ, Permission.WRITE, Permission.DELETE},
        Role.ADMIN: set(Permission),
    },
)

# The expected matrix, written out rather than derived from POLICY so a wrong map fails.
ALLOWED: dict[str, set[str]] = {
    "user": {"read", "write"},
    "moderator": {"read", "write", "delete"},
    "admin": {"read", "write", "delete", "admin"},
}
PERMISSIONS = ["read", "write", "delete", "admin"]
MATRIX = [
    pytest.param(role, permission, 200 if permission in allowed else 403, id=f"{role}-{permission}")
    for role, allowed in ALLOWED.items()
    for permission in PERMISSIONS
] + [pytest.param("anonymous", p, 401, id=f"anonymous-{p}") for p in PERMISSIONS]
CODES = {200: None, 401: "AUTHENTICATION_REQUIRED", 403: "FORBIDDEN"}

MarketsPrincipal = Principal[str, Role, Permission]


async def principal_from_headers(request: Request) -> AnyPrincipal | None:
    """A stand-in authenticator: ``X-Role`` signs in a user, ``X-Scopes`` makes it an API key."""
    role = request.headers.get("x-role")
    if role is None:
        return None
    user: MarketsPrincipal = Principal.user("u-1", Role(role), POLICY)
    scopes = request.headers.get("x-scopes")
    if scopes is None:
        return user
    return Principal.api_key("k-1", owner=user, scopes=[Permission(s) for s in scopes.split(",")])


def build_app(*, authenticate: bool = True) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    for permission in Permission:
        guard = require_permission(permission)

        async def endpoint(principal: Annotated[AnyPrincipal, Depends(guard)]) -> dict[str, Any]:
            return {"id": principal.id, "kind": principal.kind}

        app.add_api_route(f"/{permission.value}", endpoint, methods=["GET"])

    @app.get("/moderation")
    async def moderation(
        principal: Annotated[AnyPrincipal, Depends(require_role(Role.MODERATOR, Role.ADMIN))],
    ) -> dict[str, Any]:
        return {"id": principal.id}

    @app.get("/purge")
    async def purge(
        _: Annotated[
            AnyPrincipal, Depends(require_permission(Permission.DELETE, Permission.ADMIN))
        ],
    ) -> dict[str, Any]:
        return {}

    if authenticate:
        app.dependency_overrides[current_principal] = principal_from_headers
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _headers(role: str, scopes: str | None = None) -> dict[str, str]:
    headers = {} if role == "anonymous" else {"x-role": role}
    if scopes is not None:
        headers["x-scopes"] = scopes
    return headers


# --- the authorization matrix -------------------------------------------------------------


@pytest.mark.parametrize(("role", "permission", "status"), MATRIX)
async def test_authorization_matrix(
    client: httpx.AsyncClient, role: str, permission: str, status: int
) -> None:
    response = await client.get(f"/{permission}", headers=_headers(role))
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"id": "u-1", "kind": "user"}
        return
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["code"] == CODES[status]
    assert problem["status"] == status
    if status == 403:
        assert problem["detail"] == f"This action requires the '{permission}' permission."
        assert problem["missing_permissions"] == [permission]
    else:
        assert response.headers["www-authenticate"] == "Bearer"


async def test_forbidden_names_only_the_missing_permissions(client: httpx.AsyncClient) -> None:
    moderator = await client.get("/purge", headers=_headers("moderator"))
    assert moderator.status_code == 403
    assert moderator.json()["detail"] == "This action requires the 'admin' permission."
    user = await client.get("/purge", headers=_headers("user"))
    assert user.json()["missing_permissions"] == ["delete", "admin"]
    assert user.json()["detail"] == "This action requires the 'delete' and 'admin' permissions."
    assert (await client.get("/purge", headers=_headers("admin"))).status_code == 200


@pytest.mark.parametrize(
    ("role", "status"),
    [("user", 403), ("moderator", 200), ("admin", 200), ("anonymous", 401)],
)
async def test_require_role_admits_any_listed_role(
    client: httpx.AsyncClient, role: str, status: int
) -> None:
    response = await client.get("/moderation", headers=_headers(role))
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "FORBIDDEN"
        assert response.json()["detail"] == "This action requires the 'moderator' or 'admin' role."


# --- API keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scopes", "permission", "status"),
    [
        ("moderator", "read,delete,admin", "delete", 200),
        ("moderator", "read,delete,admin", "admin", 403),  # scope the owner lacks
        ("moderator", "read,delete,admin", "write", 403),  # permission the key lacks
        ("user", "read,write,delete", "delete", 403),
        ("user", "read", "read", 200),
        ("admin", "read", "admin", 403),
    ],
)
async def test_api_key_is_capped_by_scopes_and_owner(
    client: httpx.AsyncClient, role: str, scopes: str, permission: str, status: int
) -> None:
    response = await client.get(f"/{permission}", headers=_headers(role, scopes))
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"id": "k-1", "kind": "api_key"}
    else:
        assert response.json()["missing_permissions"] == [permission]


async def test_api_key_never_passes_a_role_guard(client: httpx.AsyncClient) -> None:
    response = await client.get("/moderation", headers=_headers("admin", ",".join(Permission)))
    assert response.status_code == 403


def test_api_key_principal() -> None:
    owner: MarketsPrincipal = Principal.user("u-7", Role.MODERATOR, POLICY)
    key = Principal.api_key("k-9", owner=owner, scopes={Permission.READ, Permission.ADMIN})
    assert (key.id, key.kind, key.owner_id) == ("k-9", "api_key", "u-7")
    assert key.permissions == {Permission.READ}
    assert key.roles == frozenset()
    assert key.has(Permission.READ)
    assert not key.has(Permission.READ, Permission.ADMIN)
    with pytest.raises(ValueError, match="belongs to a user"):
        Principal.api_key("k-10", owner=key, scopes={Permission.READ})


def test_user_principal() -> None:
    user: MarketsPrincipal = Principal.user("u-1", [Role.USER, Role.MODERATOR], POLICY)
    assert (user.kind, user.owner_id) == ("user", "u-1")
    assert user.permissions == {Permission.READ, Permission.WRITE, Permission.DELETE}
    assert user.missing([Permission.ADMIN, Permission.READ, Permission.ADMIN]) == [Permission.ADMIN]
    from_storage: Any = "admin"  # a role column read back as a plain string
    stored: MarketsPrincipal = Principal.user("u-2", from_storage, POLICY)
    assert stored.roles == {Role.ADMIN}
    assert all(isinstance(role, Role) for role in stored.roles)
    assert stored.has(Permission.ADMIN)
    retired: Any = "superuser"
    with pytest.raises(ConfigurationError, match="Unknown role: 'superuser'"):
        Principal.user("u-3", retired, POLICY)
    with pytest.raises(AttributeError):
        user.permissions = frozenset(Permission)  # type: ignore[misc]


# --- the policy map -----------------------------------------------------------------------


def test_policy_answers_permissions_of() -> None:
    assert POLICY.permissions_of(Role.USER) == {Permission.READ, Permission.WRITE}
    assert POLICY.permissions_of(Role.ADMIN) == set(Permission)
    assert POLICY.permissions_of() == frozenset()
    assert POLICY.permissions_of(Role.USER, Role.MODERATOR) == POLICY[Role.MODERATOR]
    assert isinstance(POLICY[Role.USER], frozenset)
    assert list(POLICY) == [Role.USER, Role.MODERATOR, Role.ADMIN]
    assert len(POLICY) == 3


def test_policy_accepts_values_and_is_immutable() -> None:
    policy = RolePermissions(Role, Permission, {"user": ["read"], "moderator": [], "admin": []})
    assert policy[Role.USER] == {Permission.READ}
    assert all(isinstance(p, Permission) for p in policy[Role.USER])
    with pytest.raises(TypeError):
        policy[Role.USER] = frozenset()  # type: ignore[index]
    source = {Role.USER: {Permission.READ}, Role.MODERATOR: set(), Role.ADMIN: set()}
    copied = RolePermissions(Role, Permission, source)
    source[Role.USER].add(Permission.ADMIN)
    assert copied[Role.USER] == {Permission.READ}


@pytest.mark.parametrize(
    ("grants", "message"),
    [
        ({Role.USER: {Permission.READ}}, "Roles without a permissions entry: moderator, admin."),
        (
            {Role.USER: {"read", "purge"}, Role.MODERATOR: set(), Role.ADMIN: set()},
            "Unknown permission of role 'user': 'purge'.",
        ),
        (
            {Role.USER: set(), Role.MODERATOR: set(), Role.ADMIN: set(), "root": set()},
            "Unknown role: 'root'.",
        ),
        (
            {Role.USER: "read", Role.MODERATOR: set(), Role.ADMIN: set()},
            "Role 'user' must map to a collection of permissions, not the string 'read'.",
        ),
    ],
    ids=["missing-role", "unknown-permission", "unknown-role", "bare-string"],
)
def test_policy_refuses_invalid_maps(grants: dict[Any, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RolePermissions(Role, Permission, grants)
    assert raised.value.message == message


# --- wiring mistakes ----------------------------------------------------------------------


async def test_missing_override_fails_closed() -> None:
    with pytest.raises(ConfigurationError, match=r"dependency_overrides\[current_principal\]"):
        await current_principal()
    transport = httpx.ASGITransport(app=build_app(authenticate=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/read", headers=_headers("admin"))
    assert response.status_code == 500
    assert response.json()["code"] == "CONFIGURATION_ERROR"


def test_guards_need_something_to_require() -> None:
    with pytest.raises(ConfigurationError, match="at least one permission"):
        require_permission()
    with pytest.raises(ConfigurationError, match="at least one role"):
        require_role()


def test_guards_are_coroutines() -> None:
    import inspect

    assert inspect.iscoroutinefunction(require_permission(Permission.READ))
    assert inspect.iscoroutinefunction(require_role(Role.ADMIN))


# --- guards bound to the app's authenticator -------------------------------------------

ACCESS = AccessControl(principal_from_headers)
CanWrite = Annotated[AnyPrincipal, Depends(ACCESS.require_permission(Permission.WRITE))]
Moderates = Annotated[AnyPrincipal, Depends(ACCESS.require_role(Role.MODERATOR))]
SignedIn = Annotated[AnyPrincipal, Depends(ACCESS.authenticated)]


def build_access_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/write")
    async def write(principal: CanWrite) -> dict[str, Any]:
        return {"id": principal.id}

    @app.get("/moderate")
    async def moderate(principal: Moderates) -> dict[str, Any]:
        return {"id": principal.id}

    @app.get("/me")
    async def me(principal: SignedIn) -> dict[str, Any]:
        return {"kind": principal.kind}

    return app


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/write", {}, 401),
        ("/write", {"x-role": "user"}, 200),
        ("/write", {"x-role": "user", "x-scopes": "read"}, 403),
        ("/moderate", {"x-role": "user"}, 403),
        ("/moderate", {"x-role": "moderator"}, 200),
        ("/moderate", {"x-role": "moderator", "x-scopes": "read,write,delete"}, 403),
        ("/me", {}, 401),
        ("/me", {"x-role": "user", "x-scopes": "read"}, 200),
    ],
)
async def test_access_control_guards_without_any_override(
    path: str, headers: dict[str, str], status: int
) -> None:
    app = build_access_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(path, headers=headers)
    assert response.status_code == status
    assert app.dependency_overrides == {}


async def test_access_control_resolves_the_authenticator_once_per_request() -> None:
    calls = []

    async def counting(request: Request) -> AnyPrincipal | None:
        calls.append(request.url.path)
        return await principal_from_headers(request)

    access = AccessControl(counting)
    app = FastAPI()

    @app.get("/both")
    async def both(
        _: Annotated[AnyPrincipal, Depends(access.require_permission(Permission.READ))],
        principal: Annotated[AnyPrincipal, Depends(access.require_permission(Permission.WRITE))],
    ) -> dict[str, Any]:
        return {"id": principal.id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/both", headers={"x-role": "user"})
    assert response.status_code == 200
    assert calls == ["/both"]


async def test_documented_guard_problems_are_the_guards_own() -> None:
    anonymous, lacking = permission_problems(Permission.DELETE, Permission.ADMIN)
    _, lacking_role = role_problems(Role.MODERATOR, Role.ADMIN)
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        unsigned = (await http.get("/purge")).json()
        refused = (await http.get("/purge", headers=_headers("user"))).json()
        not_moderator = (await http.get("/moderation", headers=_headers("user"))).json()
    assert (unsigned["code"], unsigned["detail"]) == (anonymous.code, anonymous.message)
    assert refused["detail"] == lacking.message
    assert refused["missing_permissions"] == lacking.details["missing_permissions"]
    assert not_moderator["detail"] == lacking_role.message
    assert not_moderator["required_roles"] == lacking_role.details["required_roles"]


async def test_a_guard_names_the_caller_on_the_access_line(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    access = AccessControl(principal_from_headers)
    router = APIRouter()

    @router.get("/read")
    async def read(
        _: Annotated[AnyPrincipal, Depends(access.require_permission(Permission.READ))],
    ) -> dict[str, str]:
        return {}

    settings = AppSettings(database_url=sqlite_url, log_json=True, log_level="INFO")
    async with app_client(create_app(settings, title="t", routers=[router])) as client:
        capsys.readouterr()
        assert (await client.get("/read", headers={"X-Role": "user"})).status_code == 200
        keyed = await client.get("/read", headers={"X-Role": "user", "X-Scopes": "read"})
        assert keyed.status_code == 200
        assert (await client.get("/read")).status_code == 401
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    user, key, anonymous = [line for line in lines if line.get("logger") == "tiered.access"]
    assert user["principal_id"] == "user:u-1"
    assert key["principal_id"] == "api_key:k-1"
    assert "principal_id" not in anonymous
