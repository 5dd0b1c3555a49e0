"""Who is calling: credentials read from the request, resolved to a principal and an actor."""

from __future__ import annotations

from dataclasses import dataclass

from markets.domain.users import Actor
from markets.services.access import MarketsPrincipal

__all__ = ["Caller", "authenticate"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: the principal guards check, the actor services see."""

    principal: MarketsPrincipal
    actor: Actor


async def authenticate() -> Caller | None:
    """The caller, or ``None`` for an anonymous request (credentials are not read yet)."""
    return None
