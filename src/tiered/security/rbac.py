"""Role-based access control: who may do what, and the FastAPI guards that enforce it.

An application declares its own ``Role`` and ``Permission`` string enums and one
:class:`RolePermissions` map between them; routes then see a :class:`Principal`
(a user, or an API key acting for one) and are guarded by the
``require_permission`` and ``require_role`` of an :class:`AccessControl`. Guards
only read the principal: *how* a request is authenticated is the application's
business, and it says so once, by handing its authenticating dependency to
``AccessControl``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from fastapi import Depends

from tiered.errors import AppError, AuthenticationError, AuthorizationError, ConfigurationError
from tiered.observability.request_scope import record_principal

__all__ = [
    "AccessControl",
    "AnyPrincipal",
    "Principal",
    "PrincipalKind",
    "PrincipalSource",
    "RolePermissions",
    "authenticated_principal",
    "current_principal",
    "permission_problems",
    "require_permission",
    "require_role",
    "role_problems",
]

IdT = TypeVar("IdT")
RoleT = TypeVar("RoleT", bound=StrEnum)
PermissionT = TypeVar("PermissionT", bound=StrEnum)

PrincipalKind = Literal["user", "api_key"]


class RolePermissions(Mapping[RoleT, frozenset[PermissionT]]):
    """An immutable, validated role → permissions map.

    Built once at import time from a plain dict, it refuses what would otherwise
    surface as a silent denial (or grant) in production: a role with no entry,
    a permission or role the enums do not know, a bare string where a set of
    permissions was meant.
    """

    __slots__ = ("_grants", "permission_type", "role_type")

    def __init__(
        self,
        roles: type[RoleT],
        permissions: type[PermissionT],
        grants: Mapping[Any, Iterable[Any]],
    ) -> None:
        self.role_type = roles
        self.permission_type = permissions
        validated: dict[RoleT, frozenset[PermissionT]] = {}
        for raw_role, raw_permissions in grants.items():
            role = _member(roles, raw_role, "role")
            if isinstance(raw_permissions, str):
                raise ConfigurationError(
                    f"Role {role.value!r} must map to a collection of permissions, "
                    f"not the string {raw_permissions!r}."
                )
            validated[role] = frozenset(
                _member(permissions, raw, f"permission of role {role.value!r}")
                for raw in raw_permissions
            )
        missing = [role.value for role in roles if role not in validated]
        if missing:
            raise ConfigurationError(f"Roles without a permissions entry: {', '.join(missing)}.")
        self._grants: Mapping[RoleT, frozenset[PermissionT]] = MappingProxyType(validated)

    def permissions_of(self, *roles: RoleT) -> frozenset[PermissionT]:
        """The union of what ``roles`` grant; no role grants nothing."""
        return frozenset[PermissionT]().union(*(self._grants[role] for role in roles))

    def __getitem__(self, role: RoleT) -> frozenset[PermissionT]:
        return self._grants[role]

    def __iter__(self) -> Iterator[RoleT]:
        return iter(self._grants)

    def __len__(self) -> int:
        return len(self._grants)

    def __repr__(self) -> str:
        body = ", ".join(
            f"{role.value}: {sorted(p.value for p in granted)}"
            for role, granted in self._grants.items()
        )
        return f"RolePermissions({{{body}}})"


def _member(enum: type[Any], raw: object, what: str) -> Any:
    try:
        return enum(raw)
    except ValueError:
        raise ConfigurationError(f"Unknown {what}: {raw!r}.") from None


@dataclass(frozen=True, slots=True)
class Principal(Generic[IdT, RoleT, PermissionT]):
    """Who is calling, as routes and services see it: an identity and what it may do.

    ``permissions`` are effective, already resolved from the roles (and, for an
    API key, narrowed to its scopes), so a check is a set lookup. ``owner_id``
    is the user the call acts for (the user themselves, or the key's owner):
    ownership checks compare against it, whatever the kind of credential.
    Build principals with :meth:`user` and :meth:`api_key` rather than by hand.
    """

    id: IdT
    kind: PrincipalKind
    owner_id: IdT
    roles: frozenset[RoleT]
    permissions: frozenset[PermissionT]

    @classmethod
    def user(
        cls,
        user_id: IdT,
        roles: RoleT | Iterable[RoleT],
        policy: RolePermissions[RoleT, PermissionT],
    ) -> Principal[IdT, RoleT, PermissionT]:
        """A signed-in user, holding every permission their roles grant.

        Roles are checked against the policy's enum, so a role string read from
        storage that the application no longer knows fails here, not silently.
        """
        given: Iterable[object] = (roles,) if isinstance(roles, str) else roles
        held = frozenset(_member(policy.role_type, role, "role") for role in given)
        return cls(
            id=user_id,
            kind="user",
            owner_id=user_id,
            roles=held,
            permissions=policy.permissions_of(*held),
        )

    @classmethod
    def api_key(
        cls,
        key_id: IdT,
        *,
        owner: Principal[IdT, RoleT, PermissionT],
        scopes: Iterable[PermissionT],
    ) -> Principal[IdT, RoleT, PermissionT]:
        """An API key acting for ``owner``: its scopes, capped by what the owner may do now.

        The cap is applied on every request, so demoting a user narrows their
        keys at once. A key holds no roles: role guards are for people, and a
        key must not pass one with scopes its owner never gave it.
        """
        if owner.kind != "user":
            raise ValueError("An API key belongs to a user, not to another API key.")
        return cls(
            id=key_id,
            kind="api_key",
            owner_id=owner.id,
            roles=frozenset(),
            permissions=frozenset(scopes) & owner.permissions,
        )

    def has(self, permission: PermissionT, /, *more: PermissionT) -> bool:
        """Whether every one of the given permissions is held."""
        return permission in self.permissions and self.permissions.issuperset(more)

    @property
    def log_id(self) -> str:
        """How logs name this caller: ``user:<id>`` or ``api_key:<id>``."""
        return f"{self.kind}:{self.id}"

    def missing(self, permissions: Iterable[PermissionT]) -> list[PermissionT]:
        """The given permissions not held, in the order given."""
        return [p for p in dict.fromkeys(permissions) if p not in self.permissions]


AnyPrincipal: TypeAlias = Principal[Any, Any, Any]


async def current_principal() -> AnyPrincipal | None:
    """The default source of the caller for the module-level guards; unset, it fails closed.

    Prefer :class:`AccessControl` with the app's own authenticating dependency.
    Overriding this one (``app.dependency_overrides[current_principal] = ...``)
    works, but FastAPI rebuilds the dependency graph of every route on every
    request while any override is set: fine in tests, a tax in production.
    """
    raise ConfigurationError(
        "No authentication is wired in: build the guards with "
        "AccessControl(your_authenticating_dependency), or, in tests, set "
        "app.dependency_overrides[current_principal]."
    )


PrincipalSource: TypeAlias = Callable[..., Awaitable[AnyPrincipal | None]]
_Guard: TypeAlias = Callable[..., Awaitable[AnyPrincipal]]


class AccessControl:
    """The guards of one application, reading the caller from its authenticating dependency.

    ``principal`` is an ordinary FastAPI dependency returning a
    :class:`Principal`, or ``None`` for an anonymous request; FastAPI resolves
    it once per request however many guards a route stacks.
    """

    __slots__ = ("authenticated", "principal")

    def __init__(self, principal: PrincipalSource) -> None:
        self.principal = principal

        # Defaults, not ``Annotated``: annotations are strings here, and FastAPI
        # resolves strings in the module's globals, where ``principal`` is not.
        source = Depends(principal)

        async def authenticated(caller: AnyPrincipal | None = source) -> AnyPrincipal:
            """The caller, or a 401 problem when the request carries no credentials.

            The caller is named on the request's log lines (`record_principal`).
            """
            if caller is None:
                raise _anonymous()
            record_principal(caller.log_id)
            return caller

        self.authenticated: _Guard = authenticated

    def require_permission(self, *permissions: StrEnum) -> _Guard:
        """A dependency that admits a caller holding *all* of ``permissions`` and returns it.

        Anonymous callers get a 401; others lacking any of them a 403 whose detail
        and ``missing_permissions`` name the missing codes (never what the caller holds).
        """
        if not permissions:
            raise ConfigurationError("require_permission needs at least one permission.")
        wanted = tuple(dict.fromkeys(permissions))
        authenticated = Depends(self.authenticated)

        async def guard(principal: AnyPrincipal = authenticated) -> AnyPrincipal:
            missing = principal.missing(wanted)
            if missing:
                raise _lacks_permissions(missing)
            return principal

        guard.__name__ = f"require_permission_{'_'.join(p.value for p in wanted)}"
        return guard

    def require_role(self, *roles: StrEnum) -> _Guard:
        """A dependency that admits a caller holding *any* of ``roles`` and returns it.

        API keys hold no roles, so they never pass; guard what keys may call with
        :meth:`require_permission` instead.
        """
        if not roles:
            raise ConfigurationError("require_role needs at least one role.")
        accepted = frozenset(roles)
        codes = [role.value for role in dict.fromkeys(roles)]
        authenticated = Depends(self.authenticated)

        async def guard(principal: AnyPrincipal = authenticated) -> AnyPrincipal:
            if accepted.isdisjoint(principal.roles):
                raise _lacks_role(codes)
            return principal

        guard.__name__ = f"require_role_{'_'.join(codes)}"
        return guard


_DEFAULT = AccessControl(current_principal)
authenticated_principal = _DEFAULT.authenticated
require_permission = _DEFAULT.require_permission
require_role = _DEFAULT.require_role


def permission_problems(*permissions: StrEnum) -> tuple[AppError, AppError]:
    """The 401 and 403 a ``require_permission(*permissions)`` guard answers, as it words them.

    For a route's ``responses=problem_responses(...)``: the documented examples
    are the guard's own errors, so the OpenAPI document cannot drift from them.
    """
    return _anonymous(), _lacks_permissions(dict.fromkeys(permissions))


def role_problems(*roles: StrEnum) -> tuple[AppError, AppError]:
    """The 401 and 403 a ``require_role(*roles)`` guard answers, as it words them."""
    return _anonymous(), _lacks_role([role.value for role in dict.fromkeys(roles)])


def _anonymous() -> AuthenticationError:
    return AuthenticationError("Authentication is required.")


def _lacks_permissions(missing: Iterable[StrEnum]) -> AuthorizationError:
    codes = [permission.value for permission in missing]
    noun = "permission" if len(codes) == 1 else "permissions"
    return AuthorizationError(
        f"This action requires the {_quoted(codes, 'and')} {noun}.",
        details={"missing_permissions": codes},
    )


def _lacks_role(codes: list[str]) -> AuthorizationError:
    return AuthorizationError(
        f"This action requires the {_quoted(codes, 'or')} role.",
        details={"required_roles": codes},
    )


def _quoted(codes: list[str], conjunction: str) -> str:
    quoted = [f"'{code}'" for code in codes]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"
