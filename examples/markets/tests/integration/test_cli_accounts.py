"""``markets create-user`` and the demo admin ``make serve`` prepares: no password is fixed."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from markets.cli import app as cli
from markets.cli import demo_admin_password
from markets.config import Settings
from markets.domain.users import Role
from markets.migrate import upgrade
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.demo_data import (
    DEMO_ADMIN_EMAIL,
    DemoSize,
    ensure_demo_admin_password,
    seed_demo,
)
from tiered.db import Database
from tiered.security import Argon2PasswordHasher

NewUow = Callable[[], MarketsUnitOfWork]


async def _password_hash(url: str, email: str) -> tuple[str | None, Role | None]:
    database = Database.from_settings(Settings(environment="test", database_url=url))
    try:
        async with MarketsUnitOfWork(database.sessionmaker).read_only() as uow:
            user = await uow.users.get_by_email(email)
        return (user.password_hash, user.role) if user else (None, None)
    finally:
        await database.dispose()


@pytest.fixture
def migrated(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(sqlite_url)
    monkeypatch.setenv("MARKETS_DATABASE_URL", sqlite_url)
    return sqlite_url


def test_create_user_prints_a_generated_password_once(migrated: str) -> None:
    result = CliRunner().invoke(
        cli, ["create-user", "--email", "Ops@Example.com", "--role", "admin"]
    )
    assert result.exit_code == 0, result.output
    password = result.stdout.strip().splitlines()[-1]
    assert len(password) == 24
    assert "created admin ops@example.com" in result.stderr
    assert password not in result.stderr
    stored, role = asyncio.run(_password_hash(migrated, "ops@example.com"))
    assert role is Role.ADMIN
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    hasher = Argon2PasswordHasher()
    try:
        assert asyncio.run(hasher.verify(password, stored)).valid
    finally:
        hasher.close()

    again = CliRunner().invoke(cli, ["create-user", "--email", "ops@example.com"])
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    other = CliRunner().invoke(cli, ["create-user", "--email", "ops2@example.com"])
    assert other.exit_code == 0
    assert other.stdout.strip().splitlines()[-1] != password, "every password is generated"


def test_create_user_refuses_a_malformed_email(migrated: str) -> None:
    result = CliRunner().invoke(cli, ["create-user", "--email", "not an email"])
    assert result.exit_code == 2
    assert "not an email address" in result.stderr


def test_the_demo_admin_password_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "demo-admin-password"
    password, new = demo_admin_password(path)
    assert new
    assert len(password) >= 12
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_admin_password(path) == (password, False)
    path.chmod(0o644)
    assert demo_admin_password(path) == (password, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")
    replaced, new = demo_admin_password(path)
    assert new
    assert replaced != password


async def test_only_the_demo_admin_can_sign_in(new_uow: NewUow) -> None:
    await seed_demo(new_uow, DemoSize(users=3, markets=2, positions=0))
    async with new_uow().read_only() as uow:
        users = await uow.users.get_all()
    assert {user.password_hash for user in users} == {None}
    hasher = Argon2PasswordHasher(
        memory_cost=8, time_cost=1, parallelism=1, allow_weak_for_tests=True
    )
    try:
        first = await ensure_demo_admin_password(
            new_uow, hasher, "first generated pw", replace=False
        )
        kept = await ensure_demo_admin_password(new_uow, hasher, "ignored, kept", replace=False)
        assert (first, kept) == (True, False)
        async with new_uow().read_only() as uow:
            admin = await uow.users.get_by_email(DEMO_ADMIN_EMAIL)
            everyone = await uow.users.get_all()
        assert admin is not None
        assert admin.role is Role.ADMIN
        assert admin.password_hash
        others = [user for user in everyone if user.id != admin.id]
        assert (await hasher.verify("first generated pw", admin.password_hash)).valid
        assert all(user.password_hash is None for user in others)
        assert await ensure_demo_admin_password(
            new_uow, hasher, "a new one, replaced", replace=True
        )
        async with new_uow().read_only() as uow:
            admin = await uow.users.get_by_email(DEMO_ADMIN_EMAIL)
        assert admin is not None
        assert admin.password_hash
        assert admin.token_version == 2
        assert (await hasher.verify("a new one, replaced", admin.password_hash)).valid
    finally:
        hasher.close()


async def test_no_demo_admin_without_demo_data(new_uow: NewUow) -> None:
    hasher = Argon2PasswordHasher(
        memory_cost=8, time_cost=1, parallelism=1, allow_weak_for_tests=True
    )
    try:
        assert (
            await ensure_demo_admin_password(new_uow, hasher, "whatever pw 123", replace=True)
            is None
        )
    finally:
        hasher.close()
