"""The service's own problem types; each gets its page under ``/problems``."""

from __future__ import annotations

from uuid import UUID

from tiered.errors import ConflictError, NotFoundError

__all__ = [
    "InvalidTransitionError",
    "MarketNotActiveError",
    "MarketNotFoundError",
    "UserNotFoundError",
]


class MarketNotFoundError(NotFoundError):
    code = "MARKET_NOT_FOUND"

    def __init__(self, market_id: UUID | str) -> None:
        super().__init__(f"Market {market_id} does not exist.")


class UserNotFoundError(NotFoundError):
    code = "USER_NOT_FOUND"

    def __init__(self, user_id: UUID | str) -> None:
        super().__init__(f"User {user_id} does not exist.")


class InvalidTransitionError(ConflictError):
    code = "INVALID_STATUS_TRANSITION"
    title = "Invalid Status Transition"
    slug = "invalid-status-transition"
    description = (
        "Markets move draft → active → closed, and are resolved from active or closed; "
        "other status changes are refused."
    )

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(
            f"A {current} market cannot become {requested}.",
            details={"current_status": current, "requested_status": requested},
        )


class MarketNotActiveError(ConflictError):
    code = "MARKET_NOT_ACTIVE"
    title = "Market Not Active"
    slug = "market-not-active"
    description = "Positions can only be bought on an active market."

    def __init__(self, market_id: UUID) -> None:
        super().__init__(f"Market {market_id} is not active.")
