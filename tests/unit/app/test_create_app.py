"""What create_app takes from settings, and what it refuses at startup."""

from __future__ import annotations

from tiered.app import create_app
from tiered.settings import AppSettings


def test_the_title_defaults_to_the_app_name() -> None:
    settings = AppSettings(environment="test", app_name="cameras", database_url="sqlite://")
    assert create_app(settings).title == "cameras"
    assert create_app(settings, title="Cameras API").title == "Cameras API"


def test_a_nullable_sort_field_fails_before_the_app_serves() -> None:
    from dataclasses import dataclass
    from uuid import UUID

    import pytest
    from sqlalchemy import Column, DateTime, MetaData, Table, Uuid
    from sqlalchemy.orm import registry

    from tiered.errors import ConfigurationError
    from tiered.http.listing import Listing
    from tiered.repository import Repository

    @dataclass
    class Sensor:
        id: UUID
        last_seen_at: object = None

    table = Table(
        "startup_sensors",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("last_seen_at", DateTime, nullable=True),
    )
    registry().map_imperatively(Sensor, table)

    class SensorRepository(Repository[Sensor]):
        model_class = Sensor
        sort_fields = frozenset({"last_seen_at"})

    with pytest.raises(ConfigurationError) as caught:
        Listing(SensorRepository)
    assert caught.value.message == (
        "SensorRepository.sort_fields has nullable columns: last_seen_at "
        "(a keyset page cannot order NULL)"
    )
