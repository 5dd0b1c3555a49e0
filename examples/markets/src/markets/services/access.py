"""The access policy: roles, their permissions, and the principal a request acts as."""

from __future__ import annotations

from typing import TypeAlias
from uuid import UUID

from markets.domain.users import ROLE_GRANTS, Actor, Permission, Role
from tiered.security import Principal, RolePermissions

__all__ = ["POLICY", "MarketsPrincipal", "actor_of"]

POLICY = RolePermissions(Role, Permission, ROLE_GRANTS)

MarketsPrincipal: TypeAlias = Principal[UUID, Role, Permission]


def actor_of(principal: MarketsPrincipal, owner_role: Role) -> Actor:
    """The actor a use case sees for ``principal``, whose owner holds ``owner_role``."""
    if principal.kind == "user":
        return Actor(principal.owner_id, owner_role)
    return Actor(principal.owner_id, owner_role, scopes=principal.permissions)
