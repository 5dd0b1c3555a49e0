"""Importing markets from CSV over HTTP: 202 and a job, batches, per-row errors, privacy.

Batches of two rows here (``import_batch_size=2``), so five valid rows take
three ``INSERT`` statements.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from markets.config import Settings
from tiered.db import Database, record_statements

from ..conftest import Accounts

RunJobs = Callable[[], Awaitable[int]]
IMPORT = "/api/v1/markets/import"

VALID = (
    "name,description,status\n"
    "Rain on Monday?,,active\n"
    'Rain on Tuesday?,"Resolves YES if it rains, anywhere in town.",draft\n'
    "Rain on Wednesday?,,\n"
    "Rain on Thursday?,,active\n"
    "Rain on Friday?,,active\n"
)


@pytest.fixture
def markets_settings(database_url: str, database: Database, tmp_path: Path) -> Settings:
    del database
    return Settings(
        environment="test",
        database_url=database_url,
        log_level="WARNING",
        jobs_in_process=False,
        mail_dir=tmp_path / "mail",
        import_batch_size=2,
    )


@pytest.fixture
async def alice(accounts: Accounts, run_jobs: RunJobs) -> dict[str, str]:
    headers = await accounts.signed_in("alice@example.com")
    await run_jobs()  # her welcome email
    return headers


async def upload(
    api: httpx.AsyncClient, headers: dict[str, str], content: bytes | str, name: str = "m.csv"
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return await api.post(IMPORT, files={"file": (name, data, "text/csv")}, headers=headers)


async def read_job(api: httpx.AsyncClient, href: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get(href, headers=headers)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()["data"]
    return job


async def test_a_valid_file_is_accepted_then_created_in_batches(
    api: httpx.AsyncClient, alice: dict[str, str], run_jobs: RunJobs
) -> None:
    accepted = await upload(api, alice, VALID, "weather.csv")
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()["data"]
    assert body["status"] == "queued"
    assert accepted.headers["location"] == body["href"] == f"/api/v1/jobs/{body['id']}"
    waiting = await read_job(api, body["href"], alice)
    assert (waiting["status"], waiting["progress"], waiting["result"]) == ("queued", None, None)

    with record_statements() as recorder:
        assert await run_jobs() == 1
    inserts = [sql for sql in recorder.statements if sql.startswith("INSERT INTO markets")]
    assert len(inserts) == 3

    done = await read_job(api, body["href"], alice)
    assert (done["kind"], done["status"], done["attempts"], done["error"]) == (
        "import-markets",
        "succeeded",
        1,
        None,
    )
    assert done["progress"] == {"done": 5, "total": 5, "fraction": 1.0}
    assert done["result"] == {
        "filename": "weather.csv",
        "rows": 5,
        "created": 5,
        "rejected": 0,
        "errors": [],
    }
    me = (await api.get("/api/v1/me", headers=alice)).json()["data"]["id"]
    mine = await api.get("/api/v1/markets", params={"creator_id": me}, headers=alice)
    listed = {item["name"]: item["status"] for item in mine.json()["data"]}
    assert listed == {
        "Rain on Monday?": "active",
        "Rain on Tuesday?": "draft",
        "Rain on Wednesday?": "draft",
        "Rain on Thursday?": "active",
        "Rain on Friday?": "active",
    }


async def test_bad_rows_are_reported_and_the_rest_imported(
    api: httpx.AsyncClient, alice: dict[str, str], run_jobs: RunJobs
) -> None:
    content = "name,status\nGood?,active\n,draft\nShut?,closed\nAlso good?,\nToo,many,fields\n"
    href = (await upload(api, alice, content)).json()["data"]["href"]
    await run_jobs()
    done = await read_job(api, href, alice)
    assert done["status"] == "succeeded"
    assert done["progress"] == {"done": 2, "total": 2, "fraction": 1.0}
    result = done["result"]
    assert (result["rows"], result["created"], result["rejected"]) == (5, 2, 3)
    assert [(error["row"], error["column"]) for error in result["errors"]] == [
        (3, "name"),
        (4, "status"),
        (6, None),
    ]
    assert result["errors"][2]["detail"] == "has 3 fields; the header names 2"


async def test_a_file_over_five_megabytes_is_a_413(
    api: httpx.AsyncClient, alice: dict[str, str], run_jobs: RunJobs
) -> None:
    row = "Will it rain?," + "d" * 4000 + ",draft\n"
    content = "name,description,status\n" + row * (5 * 1024 * 1024 // len(row) + 1)
    refused = await upload(api, alice, content)
    assert refused.status_code == 413, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert await run_jobs() == 0


async def test_a_file_that_is_not_an_importable_csv_is_refused_at_once(
    api: httpx.AsyncClient, alice: dict[str, str], run_jobs: RunJobs
) -> None:
    wrong_columns = await upload(api, alice, "title\nRain?\n")
    assert (wrong_columns.status_code, wrong_columns.json()["code"]) == (
        422,
        "IMPORT_FILE_INVALID",
    )
    assert wrong_columns.json()["errors"][0]["pointer"] == "/file"
    not_text = await upload(api, alice, b"\xff\xfe\x00n\x00a")
    assert not_text.json()["code"] == "IMPORT_FILE_INVALID"
    as_json = await api.post(IMPORT, json={"file": VALID}, headers=alice)
    assert (as_json.status_code, as_json.json()["code"]) == (422, "IMPORT_FILE_MISSING")
    other_part = await api.post(IMPORT, files={"upload": ("m.csv", b"name\nx\n")}, headers=alice)
    assert other_part.json()["code"] == "IMPORT_FILE_MISSING"
    assert await run_jobs() == 0


async def test_only_the_uploader_reads_the_job(
    api: httpx.AsyncClient, accounts: Accounts, alice: dict[str, str]
) -> None:
    href = (await upload(api, alice, VALID)).json()["data"]["href"]
    bob = await accounts.signed_in("bob@example.com")
    admin = await accounts.signed_in("root@example.com")
    for other in (bob, admin):
        hidden = await api.get(href, headers=other)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "JOB_NOT_FOUND")
    assert (await api.get(href)).status_code == 401
    assert (await api.post(IMPORT, files={"file": ("m.csv", VALID.encode())})).status_code == 401
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):
        other_method = await api.request(method, IMPORT, headers=alice)
        assert (other_method.status_code, other_method.headers["allow"]) == (405, "POST")
    key = await accounts.api_key(alice, ["read"])
    assert (await api.get(href, headers={"X-API-Key": key})).status_code == 200
    read_only = await upload(api, {"X-API-Key": key}, VALID)
    assert (read_only.status_code, read_only.json()["code"]) == (403, "FORBIDDEN")
