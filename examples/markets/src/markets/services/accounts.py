"""The signed-in user's own account: profile, password, API keys.

Changing the email or the password needs the current password, checked in
the hashing pool outside any transaction; the write then happens only if the
password is still the one that was checked. A new password bumps the token
version and revokes every session and API key of the account, in one commit:
whoever held a stolen credential loses it at their next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import ConfigDict
from pydantic.config import JsonDict

from markets.domain.errors import (
    ApiKeyLimitError,
    ApiKeyNotFoundError,
    CurrentPasswordError,
    EmailTakenError,
    ScopeNotHeldError,
    UserNotFoundError,
    WeakPasswordError,
)
from markets.domain.users import (
    Actor,
    ApiKey,
    Permission,
    Role,
    normalize_email,
    password_weakness,
)
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from tiered.clock import Clock
from tiered.errors import DuplicateResourceError, FieldError, UnprocessableContentError
from tiered.repository import (
    Filter,
    Increment,
    OffsetPage,
    Op,
    Page,
    PageRequest,
    ReadModel,
    SortKey,
)
from tiered.security import PasswordHasher, RefreshTokens, generate_api_key, verify_or_dummy

__all__ = [
    "MAX_ACTIVE_API_KEYS",
    "AccountService",
    "ApiKeyView",
    "NewApiKeyView",
    "ProfileChanges",
    "UserView",
    "check_new_password",
]

MAX_ACTIVE_API_KEYS = 20
"""Keys one account may hold unrevoked: enough for any automation, a bound for a leak."""

_USER_EXAMPLE: JsonDict = {
    "id": "2c4e6a8b-1d3f-4a5b-8c7d-9e0f1a2b3c4d",
    "email": "alice@example.com",
    "display_name": "Alice Martin",
    "role": "user",
    "is_active": True,
    "created_at": "2025-03-01T10:00:00Z",
    "updated_at": "2025-03-04T16:20:00Z",
}
_KEY_EXAMPLE: JsonDict = {
    "id": "5a7c9e1b-3d5f-4a2c-8e6b-0d1f3a5c7e9b",
    "name": "nightly import",
    "prefix": "3fK9xQ2mZ7a",
    "scopes": ["read", "write"],
    "created_at": "2025-03-05T09:30:00Z",
    "expires_at": None,
    "last_used_at": "2025-03-06T02:00:11Z",
    "revoked_at": None,
}
_NEW_KEY = "tk_3fK9xQ2mZ7a_7Qm2Lw9XcV4bN8rT1yU6iO3pA5sD0fG2hJ4kL6zX8cV1bNm"


class UserView(ReadModel):
    """A user as the API shows them: never a password hash or a token version."""

    model_config = ConfigDict(json_schema_extra={"examples": [_USER_EXAMPLE]})

    id: UUID
    email: str
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime


class ApiKeyView(ReadModel):
    """An API key as its owner sees it in a list: the prefix identifies it, nothing rebuilds it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: UUID
    name: str
    prefix: str
    scopes: tuple[Permission, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKeyView(ApiKeyView):
    """A key just created: the only answer that ever carries ``key``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "last_used_at": None, "key": _NEW_KEY}]}
    )

    key: str


class _Secret(ReadModel):
    email: str
    password_hash: str | None


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A partial update of one's own account: ``None`` leaves a field as it is."""

    display_name: str | None = None
    email: str | None = None
    password: str | None = None
    current_password: str | None = None

    @property
    def needs_current_password(self) -> bool:
        return self.email is not None or self.password is not None


def check_new_password(password: str, email: str) -> None:
    """Refuse a password the policy rejects (422 ``PASSWORD_TOO_WEAK``)."""
    weakness = password_weakness(password, email)
    if weakness is not None:
        raise WeakPasswordError(weakness)


def _current_password_required() -> UnprocessableContentError:
    return UnprocessableContentError(
        "Changing the email or the password needs the current password.",
        code="CURRENT_PASSWORD_REQUIRED",
        errors=[FieldError("/current_password", "Field required to change email or password")],
    )


_FIRST_PAGE = OffsetPage()


class AccountService:
    def __init__(self, uow: MarketsUnitOfWorkPort, hasher: PasswordHasher, clock: Clock) -> None:
        self.uow, self.hasher, self.clock = uow, hasher, clock

    async def profile(self, actor: Actor) -> UserView:
        async with self.uow.read_only() as uow:
            return await self._view(uow, actor.user_id)

    async def update_profile(self, actor: Actor, changes: ProfileChanges) -> UserView:
        secret = await self._confirmed_secret(actor, changes)
        email = normalize_email(changes.email) if changes.email is not None else None
        new_hash = None
        if changes.password is not None:
            check_new_password(changes.password, email or (secret.email if secret else ""))
            new_hash = await self.hasher.hash(changes.password)
        values: dict[str, Any] = {}
        if changes.display_name is not None:
            values["display_name"] = changes.display_name
        if email is not None and secret is not None and email != secret.email:
            values["email"] = email
        if new_hash is not None:
            values.update(password_hash=new_hash, token_version=Increment(1))
        async with self.uow as uow:
            if values:
                await self._write(uow, actor.user_id, values, secret)
            if new_hash is not None:
                await self._end_every_session(uow, actor.user_id)
            return await self._view(uow, actor.user_id)

    async def create_api_key(
        self,
        actor: Actor,
        name: str,
        scopes: tuple[Permission, ...],
        expires_at: datetime | None = None,
    ) -> NewApiKeyView:
        """A new key, shown once; its scopes must be permissions the caller holds."""
        granted = tuple(sorted(set(scopes)))
        missing = [scope.value for scope in granted if scope not in actor.permissions]
        if missing:
            raise ScopeNotHeldError(missing)
        now = self.clock.now()
        if expires_at is not None and expires_at <= now:
            raise UnprocessableContentError(
                "An API key must expire in the future.",
                code="EXPIRY_IN_THE_PAST",
                errors=[FieldError("/expires_at", "must be in the future")],
            )
        issued = generate_api_key()
        key = ApiKey(
            id=uuid4(),
            user_id=actor.user_id,
            name=name,
            prefix=issued.prefix,
            digest=issued.digest,
            scopes=granted,
            created_at=now,
            expires_at=expires_at,
        )
        async with self.uow as uow:
            if await uow.api_keys.count_active(actor.user_id) >= MAX_ACTIVE_API_KEYS:
                raise ApiKeyLimitError(MAX_ACTIVE_API_KEYS)
            await uow.api_keys.create(key)
            view = await uow.api_keys.get_one(key.id, into=ApiKeyView)
        return NewApiKeyView.trusted({**dict(view), "key": issued.key})

    async def api_keys(
        self,
        actor: Actor,
        *,
        sort: tuple[SortKey, ...] = (),
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[ApiKeyView]:
        """The caller's keys, revoked ones included, without anything secret."""
        async with self.uow.read_only() as uow:
            return await uow.api_keys.find(
                [Filter.eq("user_id", actor.user_id)], sort=sort, page=page, into=ApiKeyView
            )

    async def revoke_api_key(self, actor: Actor, key_id: UUID) -> None:
        """Revoke one of the caller's keys; revoking it again changes nothing.

        Another user's key is a 404, exactly like a key that does not exist.
        """
        async with self.uow as uow:
            if not await uow.api_keys.revoke(actor.user_id, key_id, self.clock.now()):
                raise ApiKeyNotFoundError(key_id)

    async def _confirmed_secret(self, actor: Actor, changes: ProfileChanges) -> _Secret | None:
        """The account's email and hash, once the current password proved the caller knows it."""
        if not changes.needs_current_password:
            return None
        if changes.current_password is None:
            raise _current_password_required()
        async with self.uow.read_only() as uow:
            secret = await uow.users.find_one([Filter.eq("id", actor.user_id)], into=_Secret)
        if secret is None:
            raise UserNotFoundError(actor.user_id)
        checked = await verify_or_dummy(self.hasher, changes.current_password, secret.password_hash)
        if not checked.valid:
            raise CurrentPasswordError()
        return secret

    async def _write(
        self,
        uow: MarketsUnitOfWorkPort,
        user_id: UUID,
        values: dict[str, Any],
        secret: _Secret | None,
    ) -> None:
        """One conditional update; a password changed since it was checked refuses it."""
        if "email" in values and await uow.users.exists_where(
            [Filter.eq("email", values["email"]), Filter("id", Op.NE, user_id)]
        ):
            raise EmailTakenError()
        where = [Filter.eq("id", user_id)]
        if secret is not None:
            where.append(Filter.eq("password_hash", secret.password_hash))
        try:
            changed = await uow.users.update_where(
                where, {**values, "updated_at": self.clock.now()}
            )
        except DuplicateResourceError:
            raise EmailTakenError() from None
        if not changed:
            raise CurrentPasswordError() if secret is not None else UserNotFoundError(user_id)

    async def _end_every_session(self, uow: MarketsUnitOfWorkPort, user_id: UUID) -> None:
        now = self.clock.now()
        await RefreshTokens(uow.refresh_tokens, self.clock).revoke_user(str(user_id))
        await uow.api_keys.update_where(
            [Filter.eq("user_id", user_id), Filter.eq("revoked_at", None)], {"revoked_at": now}
        )

    @staticmethod
    async def _view(uow: MarketsUnitOfWorkPort, user_id: UUID) -> UserView:
        view = await uow.users.find_one([Filter.eq("id", user_id)], into=UserView)
        if view is None:
            raise UserNotFoundError(user_id)
        return view
