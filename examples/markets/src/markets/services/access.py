"""The access policy, and who a request acts as: an access token or an API key, resolved.

Resolving a credential costs one lookup: the user row behind an access token
(its role, whether it is active, its token version), or the API key joined to
its owner. Roles are read there, never from the token, so a demotion or a
deactivation takes effect at the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias
from uuid import UUID

from markets.domain.users import ROLE_GRANTS, Actor, Permission, Role
from markets.repositories.api_keys import KeyOwner
from markets.repositories.unit_of_work import ApiKeyRepositoryPort, MarketsUnitOfWorkPort
from tiered.clock import Clock
from tiered.repository import Filter, ReadModel
from tiered.security import (
    LAST_USED_EVERY,
    TOKEN_VERSION_CLAIM,
    InvalidApiKeyError,
    InvalidTokenError,
    Principal,
    RolePermissions,
    StoredApiKey,
    TokenVerifier,
    authenticate_api_key,
    check_token_version,
)

__all__ = ["POLICY", "Authenticator", "Caller", "MarketsPrincipal", "actor_of"]

POLICY = RolePermissions(Role, Permission, ROLE_GRANTS)

MarketsPrincipal: TypeAlias = Principal[UUID, Role, Permission]


def actor_of(principal: MarketsPrincipal, owner_role: Role) -> Actor:
    """The actor a use case sees for ``principal``, whose owner holds ``owner_role``."""
    if principal.kind == "user":
        return Actor(principal.owner_id, owner_role)
    return Actor(principal.owner_id, owner_role, scopes=principal.permissions)


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: the principal guards check, the actor services see."""

    principal: MarketsPrincipal
    actor: Actor


class _UserState(ReadModel):
    id: UUID
    role: Role
    is_active: bool
    token_version: int


class _KeyLookup:
    """An ``ApiKeyStore`` for one authentication inside a read-only transaction.

    It keeps the owner the joined lookup found, and holds back the
    ``last_used_at`` write (at most one per key every few minutes) for a short
    transaction of its own, so the common case writes nothing.
    """

    def __init__(self, keys: ApiKeyRepositoryPort) -> None:
        self._keys = keys
        self.owner: KeyOwner | None = None
        self.used_at: datetime | None = None

    async def find_by_prefix(self, prefix: str) -> StoredApiKey | None:
        found = await self._keys.find_credential(prefix)
        if found is None:
            return None
        self.owner = found.user
        return found.stored()

    async def record_use(self, key_id: str, at: datetime) -> None:
        del key_id
        self.used_at = at


def _revoked_token() -> InvalidTokenError:
    return InvalidTokenError("The access token has been revoked.", code="TOKEN_REVOKED")


class Authenticator:
    """Turns a presented credential into the :class:`Caller`, or raises a 401 problem."""

    def __init__(
        self,
        uow: MarketsUnitOfWorkPort,
        verifier: TokenVerifier,
        clock: Clock,
        *,
        record_use_every: timedelta = LAST_USED_EVERY,
    ) -> None:
        self.uow, self.verifier, self.clock = uow, verifier, clock
        self.record_use_every = record_use_every

    async def access_token(self, token: str) -> Caller:
        """The user an access token was issued to, if it is still theirs to use.

        A deactivated or deleted user, or one whose token version moved on
        (password change, deactivation), gets ``TOKEN_REVOKED``.
        """
        claims = self.verifier.verify(token)
        try:
            user_id = UUID(claims.sub)
        except ValueError:
            raise InvalidTokenError(
                "The access token's claims are not acceptable.", code="TOKEN_CLAIMS_INVALID"
            ) from None
        async with self.uow.read_only() as uow:
            user = await uow.users.find_one([Filter.eq("id", user_id)], into=_UserState)
        if user is None or not user.is_active:
            raise _revoked_token()
        check_token_version(claims.extra.get(TOKEN_VERSION_CLAIM), user.token_version)
        principal: MarketsPrincipal = Principal.user(user.id, user.role, POLICY)
        return Caller(principal, actor_of(principal, user.role))

    async def api_key(self, presented: str) -> Caller:
        """The key's principal: its scopes within what its owner may do now.

        A key whose owner is deactivated is refused as revoked; reactivating the
        owner brings it back.
        """
        async with self.uow.read_only() as uow:
            lookup = _KeyLookup(uow.api_keys)
            key = await authenticate_api_key(
                presented, lookup, self.clock, record_every=self.record_use_every
            )
        owner = lookup.owner
        if owner is None or not owner.is_active:
            raise InvalidApiKeyError("The API key has been revoked.", code="API_KEY_REVOKED")
        if lookup.used_at is not None:
            async with self.uow as uow:
                await uow.api_keys.record_use(key.id, lookup.used_at)
        user: MarketsPrincipal = Principal.user(owner.id, owner.role, POLICY)
        scopes = [Permission(scope) for scope in key.scopes]
        principal: MarketsPrincipal = Principal.api_key(UUID(key.id), owner=user, scopes=scopes)
        return Caller(principal, actor_of(principal, owner.role))
