"""``/api/v1/markets`` over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update

from markets.config import Settings
from markets.domain.markets import MarketStatus
from markets.domain.positions import Side
from markets.domain.users import Actor
from markets.main import create_app
from markets.repositories.tables import users
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.markets import MarketDraft, MarketService
from markets.services.positions import PositionService
from tiered.db import Database, record_statements
from tiered.http.conditional import etag_of
from tiered.testing import app_client

NewUow = Callable[[], MarketsUnitOfWork]


@pytest.fixture
async def client(database_url: str, database: object) -> AsyncIterator[httpx.AsyncClient]:
    del database  # migrated by the fixture
    app = create_app(Settings(environment="test", database_url=database_url, log_level="WARNING"))
    async with app_client(app) as client:
        yield client


@pytest.fixture
async def catalogue(new_uow: NewUow, people: dict[str, Actor]) -> list[str]:
    """60 active markets by three creators with distinct volumes, plus one draft."""
    ids = []
    creators = [people["alice"], people["bob"], people["mona"]]
    for index in range(60):
        detail = await MarketService(new_uow()).create(
            creators[index % 3],
            MarketDraft(f"market {index:02d}", status=MarketStatus.ACTIVE),
        )
        await PositionService(new_uow()).buy(people["bob"], detail.id, Side.YES, Decimal(index + 1))
        ids.append(str(detail.id))
    await MarketService(new_uow()).create(people["alice"], MarketDraft("hidden draft"))
    return ids


async def test_list_embeds_creators_with_constant_statements(
    client: httpx.AsyncClient, catalogue: list[str]
) -> None:
    counts = {}
    for limit in (5, 50):
        with record_statements() as recorder:
            response = await client.get(
                "/api/v1/markets", params={"limit": limit, "sort": "-volume"}
            )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert len(body["data"]) == limit
        assert body["meta"]["total"] == 60
        assert all(item["creator"]["display_name"] for item in body["data"])
        volumes = [Decimal(item["volume"]) for item in body["data"]]
        assert volumes == sorted(volumes, reverse=True)
        counts[limit] = recorder.count
    assert counts[5] == counts[50]
    assert counts[50] <= 2


async def test_drafts_are_not_listed_publicly(
    client: httpx.AsyncClient, catalogue: list[str]
) -> None:
    response = await client.get("/api/v1/markets", params={"q": "hidden"})
    assert response.json()["data"] == []
    response = await client.get("/api/v1/markets", params={"status": "draft"})
    assert response.json()["meta"]["total"] == 0


async def test_filters_and_search(client: httpx.AsyncClient, catalogue: list[str]) -> None:
    response = await client.get(
        "/api/v1/markets", params={"q": "MARKET 1", "status": ["active", "closed"]}
    )
    names = {item["name"] for item in response.json()["data"]}
    assert names == {f"market {index}" for index in range(10, 20)}


async def test_cursor_walk_visits_every_market_once(
    client: httpx.AsyncClient, catalogue: list[str]
) -> None:
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 7, "sort": "name", "cursor": ""}
    while True:
        response = await client.get("/api/v1/markets", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["id"] for item in body["data"]]
        if body["meta"]["next_cursor"] is None:
            break
        params["cursor"] = body["meta"]["next_cursor"]
    assert sorted(seen) == sorted(catalogue)
    assert len(seen) == len(set(seen))


async def test_tampered_or_foreign_cursor_is_400(
    client: httpx.AsyncClient, catalogue: list[str]
) -> None:
    first = await client.get("/api/v1/markets", params={"limit": 5, "cursor": ""})
    cursor = first.json()["meta"]["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for params in (
        {"cursor": tampered},
        {"cursor": cursor, "sort": "-volume"},
        {"cursor": cursor, "offset": 5},
    ):
        response = await client.get("/api/v1/markets", params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"offset": 5, "cursor": "abc"}, "INVALID_PAGE"),
        ({"sort": "secret"}, "INVALID_SORT"),
        ({"sort": "volume,volume"}, "INVALID_SORT"),
        ({"creator": "x"}, "INVALID_QUERY"),
        ({"limit": [2, 3]}, "INVALID_QUERY"),
        ({"q": ["a", "b"]}, "INVALID_QUERY"),
    ],
)
async def test_bad_queries_are_400_problems(
    client: httpx.AsyncClient, params: dict[str, object], code: str
) -> None:
    response = await client.get("/api/v1/markets", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": 1_000_000},
        {"limit": "abc"},
        {"offset": -1},
        {"offset": 1_000_001},
        {"offset": 10**30},
        {"status": "maybe"},
    ],
)
async def test_what_the_schema_forbids_is_one_422(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await client.get("/api/v1/markets", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "REQUEST_VALIDATION_FAILED"
    assert response.json()["errors"][0]["pointer"].startswith(f"/{next(iter(params))}")


async def test_get_one_with_etag_and_304(client: httpx.AsyncClient, catalogue: list[str]) -> None:
    response = await client.get(f"/api/v1/markets/{catalogue[0]}")
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag == etag_of(response.content)
    assert response.json()["data"]["id"] == catalogue[0]
    cached = await client.get(f"/api/v1/markets/{catalogue[0]}", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["etag"] == etag
    assert cached.content == b""
    weak = await client.get(
        f"/api/v1/markets/{catalogue[0]}", headers={"If-None-Match": f"W/{etag}"}
    )
    assert weak.status_code == 304
    stale = await client.get(f"/api/v1/markets/{catalogue[0]}", headers={"If-None-Match": '"0"'})
    assert stale.status_code == 200
    other = await client.get(f"/api/v1/markets/{catalogue[1]}", headers={"If-None-Match": etag})
    assert other.status_code == 200
    assert other.headers["etag"] != etag


async def test_the_etag_follows_embedded_data(
    client: httpx.AsyncClient, catalogue: list[str], database: Database, people: dict[str, Actor]
) -> None:
    """Renaming the creator changes the market's body, so its ETag, not its version."""
    url = f"/api/v1/markets/{catalogue[0]}"
    before = await client.get(url)
    async with database.engine.begin() as connection:
        await connection.execute(
            update(users).where(users.c.id == people["alice"].user_id).values(display_name="Ada")
        )
    after = await client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["data"]["creator"]["display_name"] == "Ada"
    assert after.json()["data"]["version"] == before.json()["data"]["version"]
    assert after.headers["etag"] != before.headers["etag"]
    again = await client.get(url, headers={"If-None-Match": after.headers["etag"]})
    assert again.status_code == 304


async def test_the_etag_is_the_hash_of_the_body_sent(
    client: httpx.AsyncClient, catalogue: list[str]
) -> None:
    first = await client.get(f"/api/v1/markets/{catalogue[0]}")
    second = await client.get(f"/api/v1/markets/{catalogue[0]}")
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"] == etag_of(first.content)
    assert first.headers["content-type"] == "application/json"
    assert first.headers["content-length"] == str(len(first.content))


@pytest.mark.parametrize("character", ["%00", "%01", "%7F"])
@pytest.mark.parametrize("parameter", ["q", "sort", "cursor"])
async def test_control_characters_in_the_query_are_400(
    client: httpx.AsyncClient, catalogue: list[str], parameter: str, character: str
) -> None:
    value = {"sort": "name", "cursor": "abc"}.get(parameter, "market")
    response = await client.get(f"/api/v1/markets?{parameter}={value}{character}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "INVALID_QUERY"
    assert [error["pointer"] for error in problem["errors"]] == [f"/{parameter}"]


@pytest.mark.parametrize("character", ["%00", "%01", "%7F"])
async def test_a_control_character_alone_is_400(
    client: httpx.AsyncClient, catalogue: list[str], character: str
) -> None:
    response = await client.get(f"/api/v1/markets?q={character}")
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["pointer"] == "/q"
    status = await client.get(f"/api/v1/markets?status=active{character}")
    assert status.status_code in (400, 422)


async def test_a_cursor_reused_with_other_filters_is_400(
    client: httpx.AsyncClient, catalogue: list[str], people: dict[str, Actor]
) -> None:
    query: dict[str, str | int] = {
        "limit": 5,
        "sort": "-volume",
        "creator_id": str(people["alice"].user_id),
    }
    first = await client.get("/api/v1/markets", params=query)
    cursor = first.json()["meta"]["next_cursor"]
    same = await client.get("/api/v1/markets", params={**query, "cursor": cursor})
    assert same.status_code == 200, same.text
    changes: list[dict[str, str | int]] = [
        {"creator_id": str(people["bob"].user_id)},
        {"q": "market"},
        {"status": "active"},
        {"sort": "volume"},
    ]
    for change in changes:
        response = await client.get("/api/v1/markets", params={**query, **change, "cursor": cursor})
        assert response.status_code == 400, change
        problem = response.json()
        assert problem["code"] == "INVALID_CURSOR"
        assert "belongs to a different query" in problem["detail"], change
    dropped: dict[str, str | int] = {"limit": 5, "sort": "-volume", "cursor": cursor}
    response = await client.get("/api/v1/markets", params=dropped)
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_CURSOR")


@pytest.mark.parametrize("cursor", ["%C3%A4", "AAAA%00AAAA", "%FF%FE", "A" * 3000])
async def test_a_cursor_outside_its_alphabet_is_400(
    client: httpx.AsyncClient, catalogue: list[str], cursor: str
) -> None:
    response = await client.get(f"/api/v1/markets?cursor={cursor}")
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("INVALID_CURSOR", "INVALID_QUERY")


async def test_unknown_market_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/markets/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "MARKET_NOT_FOUND"
    malformed = await client.get("/api/v1/markets/not-a-uuid")
    assert malformed.status_code == 422


async def test_offset_page_cursor_continues_the_walk(
    client: httpx.AsyncClient, catalogue: list[str]
) -> None:
    first = (await client.get("/api/v1/markets", params={"limit": 10, "sort": "-volume"})).json()
    cursor = first["meta"]["next_cursor"]
    assert cursor
    following = await client.get(
        "/api/v1/markets", params={"limit": 10, "sort": "-volume", "cursor": cursor}
    )
    by_offset = await client.get(
        "/api/v1/markets", params={"limit": 10, "sort": "-volume", "offset": 10}
    )
    assert [m["id"] for m in following.json()["data"]] == [
        m["id"] for m in by_offset.json()["data"]
    ]
    last = await client.get("/api/v1/markets", params={"limit": 10, "offset": 50})
    assert last.json()["meta"]["next_cursor"] is None
