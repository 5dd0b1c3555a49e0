"""The service's own problem types; each gets its page under ``/problems``."""

from __future__ import annotations

from uuid import UUID

from tiered.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    FieldError,
    NotFoundError,
    UnprocessableContentError,
)

__all__ = [
    "ApiKeyLimitError",
    "ApiKeyNotFoundError",
    "CurrentPasswordError",
    "DeadLetterNotFoundError",
    "EmailTakenError",
    "ImportFileError",
    "InvalidCredentialsError",
    "InvalidTransitionError",
    "JobNotFoundError",
    "MarketNotActiveError",
    "MarketNotFoundError",
    "OwnAccessChangeError",
    "PositionNotFoundError",
    "ScopeNotHeldError",
    "UserNotFoundError",
    "WeakPasswordError",
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


class PositionNotFoundError(NotFoundError):
    code = "POSITION_NOT_FOUND"

    def __init__(self, position_id: UUID | str) -> None:
        super().__init__(f"Position {position_id} does not exist.")


class EmailTakenError(ConflictError):
    code = "EMAIL_TAKEN"
    title = "Email Taken"
    slug = "email-taken"
    description = "Another account uses this email address (compared case-insensitively)."

    def __init__(self) -> None:
        super().__init__("An account with this email address already exists.")


class WeakPasswordError(UnprocessableContentError):
    code = "PASSWORD_TOO_WEAK"
    title = "Weak Password"
    slug = "weak-password"
    description = (
        "The new password is too short, equals the email address, or is one of the most "
        "common passwords; `errors` says which."
    )

    def __init__(self, reason: str, pointer: str = "/password") -> None:
        super().__init__(
            f"The password {reason}.", errors=[FieldError(pointer, f"password {reason}")]
        )


class InvalidCredentialsError(AuthenticationError):
    """One answer for an unknown email, a wrong password and a deactivated account."""

    code = "INVALID_CREDENTIALS"
    title = "Invalid Credentials"
    slug = "invalid-credentials"
    description = "The email and password do not match an active account."

    def __init__(self) -> None:
        super().__init__("The email or password is incorrect.", details={"error": "invalid_grant"})


class CurrentPasswordError(AuthorizationError):
    code = "CURRENT_PASSWORD_INVALID"
    title = "Current Password Invalid"
    slug = "current-password-invalid"
    description = "Changing the email or the password needs the account's current password."

    def __init__(self) -> None:
        super().__init__("The current password is incorrect.")


class ScopeNotHeldError(AuthorizationError):
    code = "SCOPE_NOT_HELD"
    title = "Scope Not Held"
    slug = "scope-not-held"
    description = "An API key can only be given permissions its owner holds."

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"You cannot grant a key what you do not hold: {', '.join(missing)}.",
            details={"missing_permissions": missing},
        )


class ApiKeyNotFoundError(NotFoundError):
    code = "API_KEY_NOT_FOUND"

    def __init__(self, key_id: UUID | str) -> None:
        super().__init__(f"API key {key_id} does not exist.")


class ApiKeyLimitError(ConflictError):
    code = "API_KEY_LIMIT_REACHED"
    title = "API Key Limit Reached"
    slug = "api-key-limit-reached"
    description = "An account holds a bounded number of active API keys; revoke one first."

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} active API keys; revoke one first.",
            details={"limit": limit},
        )


class OwnAccessChangeError(ConflictError):
    code = "OWN_ACCESS_CHANGE"
    title = "Own Access Change"
    slug = "own-access-change"
    description = (
        "Administrators cannot change their own role or deactivate themselves, so an "
        "administrator is never locked out by their own hand."
    )

    def __init__(self) -> None:
        super().__init__("You cannot change your own role or active flag.")


class JobNotFoundError(NotFoundError):
    """A job that does not exist, and one that is not the caller's, look the same."""

    code = "JOB_NOT_FOUND"

    def __init__(self, job_id: UUID | str) -> None:
        super().__init__(f"Job {job_id} does not exist.")


class DeadLetterNotFoundError(NotFoundError):
    code = "DEAD_LETTER_NOT_FOUND"
    title = "Dead Letter Not Found"
    slug = "dead-letter-not-found"
    description = (
        "No job with this id is a dead letter: it does not exist, or it is queued, running "
        "or done (a requeued job is no longer dead)."
    )

    def __init__(self, job_id: UUID | str) -> None:
        super().__init__(f"Job {job_id} is not a dead letter.")


class ImportFileError(UnprocessableContentError):
    """A file that cannot be imported at all; row-level problems are reported by the job."""

    code = "IMPORT_FILE_INVALID"
    title = "Import File Invalid"
    slug = "import-file-invalid"
    description = (
        "The uploaded file is not a CSV file the import understands: UTF-8 text whose first "
        "line names the columns (`name`, and optionally `description` and `status`)."
    )

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The file cannot be imported: {reason}.", errors=[FieldError("/file", reason)]
        )
