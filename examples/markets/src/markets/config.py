"""Settings of the markets service: ``MARKETS_*`` environment variables or ``.env``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from tiered.settings import AppSettings

__all__ = ["Settings"]


class Settings(AppSettings):
    """Embedded mode by default: a SQLite file under ``var/``, nothing else to run."""

    model_config = SettingsConfigDict(
        env_prefix="MARKETS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    app_name: str = "markets"
    database_url: str = "sqlite+aiosqlite:///var/markets.db"
    import_max_bytes: int = 5 * 1024 * 1024
    """Largest CSV file, in bytes, that `POST /api/v1/markets/import` accepts."""
