from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import SettingsConfigDict

from tiered.errors import ConfigurationError
from tiered.settings import DEV_CURSOR_SECRET, DEV_JWT_SECRET, AppSettings, Environment

STRONG = "k3Jq9vXz-1pLm8Rt5Yw2Nb7Hc4Fd6Gs0Ae"
OTHER_STRONG = "Zq8Wm3Rt6Yp1Lk4Jh7Gf0Ds2Ax5Cv9Bn-"
WEAK = [
    DEV_JWT_SECRET,
    DEV_CURSOR_SECRET,
    "secret",
    "changeme",
    "short-but-random-9f8e",
    "a" * 64,
    "abababab" * 8,
]


class ShopSettings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_", frozen=True)


@pytest.fixture
def unset_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The suite runs in ``test``; these tests look at what a bare process gets."""
    monkeypatch.chdir(tmp_path)  # no stray .env either
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("SHOP_ENVIRONMENT", raising=False)


@pytest.mark.usefixtures("unset_environment")
def test_environment_defaults_to_production_and_refuses_the_dev_secrets() -> None:
    with pytest.raises(ConfigurationError) as refused:
        AppSettings()
    message = str(refused.value)
    assert "environment defaults to production" in message
    assert "jwt_secret is a published default" in message
    assert "cursor_secret is a published default" in message
    assert "JWT_SECRET and CURSOR_SECRET" in message
    assert "ENVIRONMENT=dev" in message
    assert DEV_JWT_SECRET not in message
    assert DEV_CURSOR_SECRET not in message


@pytest.mark.usefixtures("unset_environment")
def test_the_refusal_names_the_applications_own_variables() -> None:
    with pytest.raises(ConfigurationError) as refused:
        ShopSettings(jwt_secret=STRONG)
    message = str(refused.value)
    assert "Set SHOP_CURSOR_SECRET to a random value of at least 32 bytes (" in message
    assert "SHOP_JWT_SECRET" not in message
    assert "SHOP_ENVIRONMENT=dev" in message


@pytest.mark.usefixtures("unset_environment")
def test_production_starts_with_two_strong_distinct_secrets() -> None:
    settings = AppSettings(jwt_secret=STRONG, cursor_secret=OTHER_STRONG)
    assert settings.environment is Environment.PRODUCTION
    assert settings.logs_as_json is True
    assert settings.cursor_secret.get_secret_value() == OTHER_STRONG
    assert STRONG not in repr(settings)
    assert OTHER_STRONG not in repr(settings)


def test_embedded_defaults_in_dev() -> None:
    settings = AppSettings(environment="dev")
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert settings.is_dev
    assert settings.logs_as_json is False


def test_the_suite_runs_in_test() -> None:
    assert AppSettings().environment is Environment.TEST


@pytest.mark.parametrize("secret", WEAK)
@pytest.mark.parametrize("name", ["jwt_secret", "cursor_secret"])
def test_a_weak_secret_is_refused_in_production(secret: str, name: str) -> None:
    secrets = {"jwt_secret": STRONG, "cursor_secret": OTHER_STRONG, name: secret}
    with pytest.raises(ConfigurationError, match=f"environment is production and {name} is"):
        AppSettings(
            environment="production",
            jwt_secret=secrets["jwt_secret"],
            cursor_secret=secrets["cursor_secret"],
        )


def test_the_same_secret_for_tokens_and_cursors_is_refused_in_production() -> None:
    with pytest.raises(ConfigurationError, match="cursor_secret equals jwt_secret") as refused:
        AppSettings(environment="production", jwt_secret=STRONG, cursor_secret=STRONG)
    assert STRONG not in str(refused.value)


@pytest.mark.parametrize("environment", ["dev", "test"])
@pytest.mark.parametrize("secret", WEAK)
def test_dev_and_test_accept_the_dev_and_weak_secrets(environment: str, secret: str) -> None:
    settings = AppSettings(environment=environment, jwt_secret=secret, cursor_secret=secret)
    assert settings.environment.accepts_dev_secrets


@pytest.mark.usefixtures("unset_environment")
def test_environment_comes_from_the_prefixed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_ENVIRONMENT", "dev")
    assert ShopSettings().is_dev
    monkeypatch.setenv("SHOP_ENVIRONMENT", "production")
    with pytest.raises(ConfigurationError, match="environment is production"):
        ShopSettings()


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="environment"):
        AppSettings(environment="staging")


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
