"""Signing up, signing in, refreshing and signing out.

Passwords are hashed and checked in the bounded hashing pool, never inside a
transaction (a connection, or SQLite's writer lock, is not held for the tens
of milliseconds a hash takes). A sign-in then re-reads the account in the
transaction that starts the session, so a password change or a deactivation
that landed in between wins. An unknown email costs the same verification as
a wrong password, and a deactivated account gets the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID, uuid4

from markets.domain.errors import EmailTakenError, InvalidCredentialsError
from markets.domain.users import EMAIL_MAX, EMAIL_PATTERN, Role, User, normalize_email
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from markets.services.accounts import UserView, check_new_password
from markets.services.tasks import SEND_WELCOME_EMAIL, WelcomeEmail
from tiered.clock import Clock
from tiered.errors import DuplicateResourceError
from tiered.repository import Filter, ReadModel
from tiered.security import (
    REFRESH_FAMILY_LIFETIME,
    REFRESH_TOKEN_TTL,
    InvalidRefreshTokenError,
    PasswordHasher,
    RefreshTokens,
    TokenIssuer,
    claims_for,
    verify_or_dummy,
)

__all__ = ["AuthService", "IssuedTokens", "SessionLifetimes", "create_account"]

_EMAIL = re.compile(EMAIL_PATTERN)


@dataclass(frozen=True, slots=True)
class SessionLifetimes:
    """How long an access token, an unused refresh token and a whole sign-in last."""

    access: timedelta = timedelta(minutes=15)
    refresh: timedelta = REFRESH_TOKEN_TTL
    family: timedelta = REFRESH_FAMILY_LIFETIME


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What a sign-in or a refresh hands the client (RFC 6749 §5.1)."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    token_type: str = "bearer"  # noqa: S105 (RFC 6749 token type)


class _Account(ReadModel):
    id: UUID
    password_hash: str | None
    is_active: bool
    token_version: int


async def create_account(
    uow: MarketsUnitOfWorkPort,
    clock: Clock,
    *,
    email: str,
    display_name: str,
    password_hash: str | None,
    role: Role = Role.USER,
) -> UserView:
    """Insert a user inside ``uow``'s open transaction; an email in use is a 409."""
    now = clock.now()
    user = User(
        uuid4(),
        normalize_email(email),
        display_name,
        role=role,
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    try:
        await uow.users.create(user)
    except DuplicateResourceError:
        raise EmailTakenError() from None
    return await uow.users.get_one(user.id, into=UserView)


class AuthService:
    def __init__(
        self,
        uow: MarketsUnitOfWorkPort,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        clock: Clock,
        lifetimes: SessionLifetimes | None = None,
    ) -> None:
        self.uow, self.hasher, self.issuer, self.clock = uow, hasher, issuer, clock
        self.lifetimes = lifetimes or SessionLifetimes()

    async def register(self, email: str, password: str, display_name: str) -> UserView:
        """A new user with the ``user`` role; the email is unique case-insensitively.

        The welcome email is a job enqueued in the same transaction: a sign-up
        that fails sends nothing, and one that commits cannot lose its email.
        """
        email = normalize_email(email)
        check_new_password(password, email)
        async with self.uow.read_only() as uow:
            if await uow.users.get_by_email(email) is not None:
                raise EmailTakenError()
        password_hash = await self.hasher.hash(password)
        async with self.uow as uow:
            view = await create_account(
                uow, self.clock, email=email, display_name=display_name, password_hash=password_hash
            )
            await uow.jobs.enqueue(
                SEND_WELCOME_EMAIL, WelcomeEmail(user_id=view.id), dedup_key=f"welcome:{view.id}"
            )
            return view

    async def log_in(self, email: str, password: str) -> IssuedTokens:
        """Tokens for the account ``email`` and ``password`` open, or 401 ``INVALID_CREDENTIALS``.

        A hash made with older parameters is replaced by a fresh one, only when
        the password matched and only if nobody changed it meanwhile.
        """
        account = await self._account_of(email)
        stored = account.password_hash if account is not None else None
        checked = await verify_or_dummy(self.hasher, password, stored)
        if account is None or not checked.valid or not account.is_active:
            raise InvalidCredentialsError()
        async with self.uow as uow:
            current = await uow.users.find_one([Filter.eq("id", account.id)], into=_Account)
            if current is None or not current.is_active or current.password_hash != stored:
                raise InvalidCredentialsError()
            if checked.new_hash is not None:
                await uow.users.update_where(
                    [Filter.eq("id", account.id), Filter.eq("password_hash", stored)],
                    {"password_hash": checked.new_hash},
                )
            session = await self._sessions(uow).start(str(account.id))
        return self._tokens(account.id, current.token_version, session.token)

    async def refresh(self, presented: str) -> IssuedTokens:
        """Spend ``presented`` and return fresh tokens, or 401 ``invalid-refresh-token``.

        A refused token is refused *after* the commit: presenting a spent token
        revokes its whole sign-in, and that revocation must outlive the refusal.
        """
        outcome: InvalidRefreshTokenError | tuple[UUID, int, str]
        async with self.uow as uow:
            try:
                successor = await self._sessions(uow).rotate(presented)
            except InvalidRefreshTokenError as error:
                outcome = error
            else:
                user_id = UUID(successor.user_id)
                user = await uow.users.find_one([Filter.eq("id", user_id)], into=_Account)
                if user is not None and user.is_active:
                    outcome = (user_id, user.token_version, successor.token)
                else:
                    await uow.refresh_tokens.revoke_family(successor.family_id, self.clock.now())
                    outcome = InvalidRefreshTokenError(
                        "The refresh token has been revoked.", code="REFRESH_TOKEN_REVOKED"
                    )
        if isinstance(outcome, InvalidRefreshTokenError):
            raise outcome
        return self._tokens(*outcome)

    async def log_out(self, presented: str) -> None:
        """End the sign-in ``presented`` belongs to; an unknown token is no error (RFC 7009)."""
        async with self.uow as uow:
            await self._sessions(uow).logout(presented)

    async def _account_of(self, email: str) -> _Account | None:
        """The account for a sign-in name; text that is no email matches nothing (and costs
        the same verification as a wrong password, like every other miss)."""
        email = normalize_email(email)
        if len(email) > EMAIL_MAX or _EMAIL.fullmatch(email) is None:
            return None
        async with self.uow.read_only() as uow:
            return await uow.users.find_one([Filter.eq("email", email)], into=_Account)

    def _sessions(self, uow: MarketsUnitOfWorkPort) -> RefreshTokens:
        return RefreshTokens(
            uow.refresh_tokens,
            self.clock,
            ttl=self.lifetimes.refresh,
            family_lifetime=self.lifetimes.family,
        )

    def _tokens(self, user_id: UUID, token_version: int, refresh_token: str) -> IssuedTokens:
        access = self.lifetimes.access
        token = self.issuer.issue(str(user_id), claims=claims_for(token_version), ttl=access)
        return IssuedTokens(token, int(access.total_seconds()), refresh_token)
