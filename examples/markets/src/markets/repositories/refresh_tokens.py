"""Refresh tokens: the ``RefreshTokenStore`` of a unit of work, on SQL or in memory.

Every method runs in the unit of work's transaction, so a password change can
bump the user's token version and revoke their sessions in one commit. Reads
build records straight from columns (never a cached ORM object), so a token
spent by a concurrent transaction is seen as spent. :meth:`mark_used` is one
conditional ``UPDATE``: of two transactions spending one token, the second
waits for the first's row lock, then matches no row and learns it lost.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from markets.domain.users import RefreshToken
from tiered.repository import Filter, InMemorySession, ReadModel, Repository
from tiered.security import RefreshTokenRecord

__all__ = ["RefreshTokenRepository"]


class _RefreshTokenRows(Repository[RefreshToken]):
    model_class = RefreshToken
    not_found_code = "REFRESH_TOKEN_NOT_FOUND"


class _StoredToken(ReadModel):
    digest: str
    user_id: UUID
    family_id: str
    generation: int
    issued_at: datetime
    expires_at: datetime
    family_expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


_NOT_REVOKED = Filter.eq("revoked_at", None)


class RefreshTokenRepository:
    """Implements ``tiered.security.RefreshTokenStore`` over the ``refresh_tokens`` table.

    A store rather than a ``Repository`` subclass: the protocol's ``find``
    (by digest) is not the repository's ``find`` (by filters).
    """

    def __init__(self, session: AsyncSession | InMemorySession) -> None:
        self._rows = _RefreshTokenRows(session)

    async def add(self, record: RefreshTokenRecord) -> None:
        await self._rows.create(
            RefreshToken(
                digest=record.digest,
                user_id=UUID(record.user_id),
                family_id=record.family_id,
                generation=record.generation,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                family_expires_at=record.family_expires_at,
                used_at=record.used_at,
                revoked_at=record.revoked_at,
            )
        )

    async def find(self, digest: str) -> RefreshTokenRecord | None:
        row = await self._rows.find_one([Filter.eq("digest", digest)], into=_StoredToken)
        if row is None:
            return None
        return RefreshTokenRecord(
            digest=row.digest,
            user_id=str(row.user_id),
            family_id=row.family_id,
            generation=row.generation,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            family_expires_at=row.family_expires_at,
            used_at=row.used_at,
            revoked_at=row.revoked_at,
        )

    async def mark_used(self, digest: str, at: datetime) -> bool:
        unspent = [Filter.eq("digest", digest), Filter.eq("used_at", None), _NOT_REVOKED]
        return await self._rows.update_where(unspent, {"used_at": at}) == 1

    async def revoke_family(self, family_id: str, at: datetime) -> None:
        await self._rows.update_where(
            [Filter.eq("family_id", family_id), _NOT_REVOKED], {"revoked_at": at}
        )

    async def revoke_user(self, user_id: str, at: datetime) -> None:
        await self._rows.update_where(
            [Filter.eq("user_id", UUID(user_id)), _NOT_REVOKED], {"revoked_at": at}
        )
