"""What create_app takes from settings, and what it refuses at startup."""

from __future__ import annotations

from tiered.app import create_app
from tiered.settings import AppSettings


def test_the_title_defaults_to_the_app_name() -> None:
    settings = AppSettings(environment="test", app_name="cameras", database_url="sqlite://")
    assert create_app(settings).title == "cameras"
    assert create_app(settings, title="Cameras API").title == "Cameras API"
