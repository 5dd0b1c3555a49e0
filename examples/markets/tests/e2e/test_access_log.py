"""Each request's access line names its caller: a user, an API key, or nobody."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from examples.markets.tests.conftest import Accounts

from markets.config import Settings


@pytest.fixture
def markets_settings(markets_settings: Settings) -> Settings:
    return markets_settings.model_copy(update={"log_level": "INFO", "log_json": True})


def _access_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "tiered.access"]


async def test_the_access_line_names_the_caller(
    api: httpx.AsyncClient, accounts: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = await accounts.signed_in("ann@example.com")
    me = (await api.get("/api/v1/me", headers=headers)).json()["data"]
    key = await accounts.api_key(headers, ["read"])
    capsys.readouterr()

    assert (await api.get("/api/v1/markets", headers=headers)).status_code == 200
    keyed = await api.get("/api/v1/me/positions", headers={"X-API-Key": key})
    assert keyed.status_code == 200
    assert (await api.get("/api/v1/markets")).status_code == 200

    signed_in, with_key, anonymous = _access_lines(capsys.readouterr().out)
    assert signed_in["principal_id"] == f"user:{me['id']}"
    assert with_key["principal_id"].startswith("api_key:")
    assert with_key["principal_id"] != signed_in["principal_id"]
    assert "principal_id" not in anonymous
