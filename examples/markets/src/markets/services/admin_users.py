"""User administration: list users, change a role, deactivate or reactivate an account.

Deactivation bumps the user's token version and revokes their sessions in the
same commit, so their access and refresh tokens stop at the next request; their
API keys stop too, since authenticating a key checks that its owner is active
(and start again on reactivation). A role change needs nothing revoked: every
request reads the role from the user row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from markets.domain.errors import OwnAccessChangeError, UserNotFoundError
from markets.domain.users import Actor, Role
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from markets.services.accounts import UserView, check_new_password
from markets.services.auth import create_account
from tiered.clock import Clock
from tiered.repository import Filter, Increment, OffsetPage, Page, PageRequest, ReadModel, SortKey
from tiered.security import PasswordHasher, RefreshTokens

__all__ = ["AdminUserService", "UserAccessChanges"]

_FIRST_PAGE = OffsetPage()


@dataclass(frozen=True, slots=True)
class UserAccessChanges:
    """What an administrator may change about a user; ``None`` leaves it as it is."""

    role: Role | None = None
    is_active: bool | None = None


class _Access(ReadModel):
    role: Role
    is_active: bool


class AdminUserService:
    def __init__(self, uow: MarketsUnitOfWorkPort, clock: Clock) -> None:
        self.uow, self.clock = uow, clock

    async def list(
        self,
        *,
        filters: tuple[Filter, ...] = (),
        search: str | None = None,
        sort: tuple[SortKey, ...] = (),
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[UserView]:
        async with self.uow.read_only() as uow:
            return await uow.users.find(filters, search=search, sort=sort, page=page, into=UserView)

    async def update(self, admin: Actor, user_id: UUID, changes: UserAccessChanges) -> UserView:
        """Apply ``changes``; an administrator cannot demote or deactivate themselves."""
        if user_id == admin.user_id and (
            (changes.role is not None and changes.role is not admin.role)
            or changes.is_active is False
        ):
            raise OwnAccessChangeError()
        async with self.uow as uow:
            current = await uow.users.find_one([Filter.eq("id", user_id)], into=_Access)
            if current is None:
                raise UserNotFoundError(user_id)
            values: dict[str, Any] = {}
            if changes.role is not None and changes.role is not current.role:
                values["role"] = changes.role
            deactivating = changes.is_active is False and current.is_active
            if changes.is_active is not None and changes.is_active != current.is_active:
                values["is_active"] = changes.is_active
            if deactivating:
                values["token_version"] = Increment(1)
            if values:
                values["updated_at"] = self.clock.now()
                await uow.users.update_where([Filter.eq("id", user_id)], values)
            if deactivating:
                await RefreshTokens(uow.refresh_tokens, self.clock).revoke_user(str(user_id))
            return await uow.users.get_one(user_id, into=UserView)

    async def create(
        self,
        hasher: PasswordHasher,
        *,
        email: str,
        display_name: str,
        role: Role,
        password: str,
    ) -> UserView:
        """An account provisioned by an operator (``markets create-user``), any role."""
        check_new_password(password, email)
        password_hash = await hasher.hash(password)
        async with self.uow as uow:
            return await create_account(
                uow,
                self.clock,
                email=email,
                display_name=display_name,
                password_hash=password_hash,
                role=role,
            )
