"""Users: one repository, on SQL or in memory."""

from __future__ import annotations

from markets.domain.users import User, normalize_email
from tiered.repository import Filter, Repository

__all__ = ["UserRepository"]


class UserRepository(Repository[User]):
    model_class = User
    not_found_code = "USER_NOT_FOUND"
    filter_fields = frozenset({"email", "role", "is_active"})
    sort_fields = frozenset({"email", "created_at", "display_name"})
    search_fields = ("email", "display_name")

    async def get_by_email(self, email: str) -> User | None:
        """Emails are unique case-insensitively: they are stored normalized."""
        return await self.find_one([Filter.eq("email", normalize_email(email))])
