from __future__ import annotations

from pathlib import Path

import pytest

from tiered.errors import ConfigurationError
from tiered.settings import DEV_JWT_SECRET, AppSettings, Environment

STRONG = "k3Jq9vXz-1pLm8Rt5Yw2Nb7Hc4Fd6Gs0Ae"


def test_defaults_are_embedded_dev() -> None:
    settings = AppSettings()
    assert settings.environment is Environment.DEV
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert settings.is_dev
    assert settings.logs_as_json is False


@pytest.mark.parametrize(
    "secret",
    [DEV_JWT_SECRET, "secret", "changeme", "short-but-random-9f8e", "a" * 64, "abababab" * 8],
)
@pytest.mark.parametrize("environment", ["test", "production"])
def test_weak_jwt_secret_is_refused_outside_dev(secret: str, environment: str) -> None:
    with pytest.raises(ConfigurationError, match="jwt_secret"):
        AppSettings(environment=environment, jwt_secret=secret)


def test_weak_secret_is_accepted_in_dev() -> None:
    assert AppSettings(environment="dev", jwt_secret="secret").is_dev


def test_strong_secret_is_accepted_in_production() -> None:
    settings = AppSettings(environment="production", jwt_secret=STRONG)
    assert settings.jwt_secret.get_secret_value() == STRONG
    assert settings.logs_as_json is True
    assert STRONG not in repr(settings)


def test_lists_come_from_comma_separated_or_json_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.1"]')
    settings = AppSettings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_invalid_trusted_proxy_is_refused() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        AppSettings(trusted_proxies=["not-an-ip"])


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("APP_NAME=from-dotenv\nMAX_BODY_BYTES=2048\n")
    monkeypatch.chdir(tmp_path)
    settings = AppSettings()
    assert settings.app_name == "from-dotenv"
    assert settings.max_body_bytes == 2048
