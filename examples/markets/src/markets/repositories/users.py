"""Users: the SQL repository and its in-memory twin."""

from __future__ import annotations

from markets.domain.users import User, normalize_email
from tiered.repository import Filter, InMemoryRepository, Repository, RepositoryConfig

__all__ = ["InMemoryUserRepository", "UserRepository"]


class _UserDeclaration(RepositoryConfig[User]):
    model_class = User
    not_found_code = "USER_NOT_FOUND"
    filter_fields = frozenset({"email", "role", "is_active"})
    sort_fields = frozenset({"email", "created_at", "display_name"})
    search_fields = ("email", "display_name")


class UserRepository(_UserDeclaration, Repository[User]):
    async def get_by_email(self, email: str) -> User | None:
        page = await self.find([Filter.eq("email", normalize_email(email))])
        return page.items[0] if page.items else None


class InMemoryUserRepository(_UserDeclaration, InMemoryRepository[User]):
    unique_fields = (("email",),)

    async def get_by_email(self, email: str) -> User | None:
        page = await self.find([Filter.eq("email", normalize_email(email))])
        return page.items[0] if page.items else None
