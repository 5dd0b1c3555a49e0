"""Fixtures shared by the library's tests.

The suite runs in ``environment=test`` (settings default to ``production``,
which refuses the development secrets): set here, before any test module
builds settings, so that ``AppSettings(...)`` anywhere in the suite means test
settings unless the test says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tiered.settings import AppSettings, Environment

os.environ["ENVIRONMENT"] = Environment.TEST.value


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """Each test using it runs on both embedded SQLite and real PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., AppSettings]:
    def make(**overrides: object) -> AppSettings:
        return AppSettings(
            **{"environment": "test", "database_url": database_url, "log_json": True, **overrides}
        )

    return make
