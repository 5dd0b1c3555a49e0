"""API keys: one repository, on SQL or in memory, that is also the key store.

It implements ``tiered.security.ApiKeyStore`` (``find_by_prefix``,
``record_use``) for ``authenticate_api_key``, and :meth:`find_credential`,
which reads a key and the state of its owner in one joined query: a request
authenticated by key costs one lookup, like one with an access token.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from markets.domain.users import ApiKey, Permission, Role
from tiered.repository import Filter, ReadModel, Repository
from tiered.security import StoredApiKey

__all__ = ["ApiKeyCredential", "ApiKeyRepository", "KeyOwner"]


class KeyOwner(ReadModel):
    id: UUID
    role: Role
    is_active: bool


class ApiKeyCredential(ReadModel):
    """A stored key and what authenticating it needs to know about its owner."""

    id: UUID
    prefix: str
    digest: str
    scopes: tuple[Permission, ...]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    user: KeyOwner

    def stored(self) -> StoredApiKey:
        return StoredApiKey(
            id=str(self.id),
            owner_id=str(self.user.id),
            prefix=self.prefix,
            digest=self.digest,
            scopes=frozenset(self.scopes),
            revoked_at=self.revoked_at,
            expires_at=self.expires_at,
            last_used_at=self.last_used_at,
        )


class ApiKeyRepository(Repository[ApiKey]):
    """A user's keys are listed newest first; nothing else is a client filter."""

    model_class = ApiKey
    not_found_code = "API_KEY_NOT_FOUND"
    sort_fields = frozenset({"created_at", "name"})

    async def find_credential(self, prefix: str) -> ApiKeyCredential | None:
        return await self.find_one([Filter.eq("prefix", prefix)], into=ApiKeyCredential)

    async def find_by_prefix(self, prefix: str) -> StoredApiKey | None:
        found = await self.find_credential(prefix)
        return None if found is None else found.stored()

    async def record_use(self, key_id: str, at: datetime) -> None:
        await self.update_where([Filter.eq("id", UUID(key_id))], {"last_used_at": at})

    async def count_active(self, user_id: UUID) -> int:
        """Keys of ``user_id`` not revoked (expired ones count until revoked)."""
        return await self.count_where(
            [Filter.eq("user_id", user_id), Filter.eq("revoked_at", None)]
        )

    async def revoke(self, user_id: UUID, key_id: UUID, at: datetime) -> bool:
        """Revoke ``key_id`` if ``user_id`` owns it; whether they own it (revoked before or now)."""
        owned = [Filter.eq("id", key_id), Filter.eq("user_id", user_id)]
        if await self.update_where([*owned, Filter.eq("revoked_at", None)], {"revoked_at": at}):
            return True
        return await self.exists_where(owned)
