"""Creating, editing, deleting and resolving markets over HTTP, on SQLite and PostgreSQL.

Who is calling comes from a test header (``X-Test-Caller: alice``) read by a
stand-in for the service's authentication: these tests are about what each
caller may do, not about how credentials are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from markets.api.authentication import Caller, authenticate
from markets.api.dependencies import market_service
from markets.config import Settings
from markets.domain.markets import Market
from markets.domain.users import Actor, Permission
from markets.main import create_app
from markets.repositories.markets import MarketRepository
from markets.repositories.unit_of_work import MarketsUnitOfWork
from markets.services.access import POLICY, MarketsPrincipal, actor_of
from markets.services.markets import MarketService
from tiered.db import Database
from tiered.http.conditional import etag_of
from tiered.security import Principal
from tiered.testing import app_client

MARKETS = "/api/v1/markets"
PROBLEM_JSON = "application/problem+json"


def caller_from_header(people: dict[str, Actor]) -> Callable[[Request], Awaitable[Caller | None]]:
    """``X-Test-Caller: <name>`` signs in as that person; ``X-Test-Scopes`` makes it an API key."""

    async def fake_authenticate(request: Request) -> Caller | None:
        name = request.headers.get("x-test-caller")
        if name is None:
            return None
        actor = people[name]
        principal: MarketsPrincipal = Principal.user(actor.user_id, actor.role, POLICY)
        scopes = request.headers.get("x-test-scopes")
        if scopes is not None:
            wanted = [Permission(scope) for scope in scopes.split(",")]
            principal = Principal.api_key(uuid4(), owner=principal, scopes=wanted)
        return Caller(principal, actor_of(principal, actor.role))

    return fake_authenticate


def as_(name: str, **headers: str) -> dict[str, str]:
    return {"X-Test-Caller": name, **headers}


@pytest.fixture
async def app(database_url: str, database: object, people: dict[str, Actor]) -> FastAPI:
    del database  # migrated by the fixture
    app = create_app(Settings(environment="test", database_url=database_url, log_level="WARNING"))
    app.dependency_overrides[authenticate] = caller_from_header(people)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as client:
        yield client


async def create(client: httpx.AsyncClient, who: str = "alice", **body: Any) -> dict[str, Any]:
    response = await client.post(MARKETS, json={"name": "Rain tomorrow?", **body}, headers=as_(who))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def read(client: httpx.AsyncClient, market_id: str, who: str = "alice") -> httpx.Response:
    return await client.get(f"{MARKETS}/{market_id}", headers=as_(who))


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


async def test_create_answers_what_a_read_returns(client: httpx.AsyncClient) -> None:
    response = await client.post(
        MARKETS,
        json={"name": "Rain tomorrow?", "description": "Any rain at noon.", "status": "active"},
        headers=as_("alice"),
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert response.headers["location"] == f"{MARKETS}/{data['id']}"
    assert response.headers["etag"] == etag_of(response.content)
    assert (data["name"], data["description"], data["status"]) == (
        "Rain tomorrow?",
        "Any rain at noon.",
        "active",
    )
    assert (data["volume"], data["outcome"], data["version"]) == ("0.0000", None, 1)
    fetched = await client.get(response.headers["location"])
    assert fetched.content == response.content
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_a_new_draft_is_its_creators_only(client: httpx.AsyncClient) -> None:
    draft = await create(client)
    assert draft["status"] == "draft"
    assert (await read(client, draft["id"], "mona")).status_code == 200
    for headers in (as_("bob"), {}):
        response = await client.get(f"{MARKETS}/{draft['id']}", headers=headers)
        problem(response, 404, "MARKET_NOT_FOUND")


async def test_if_match_guards_edits(client: httpx.AsyncClient) -> None:
    market = await create(client)
    url = f"{MARKETS}/{market['id']}"
    first = await read(client, market["id"])
    etag = first.headers["etag"]

    for stale_tag in ('"not-the-current-one"', f"W/{etag}"):
        refused = await client.patch(
            url, json={"name": "renamed"}, headers=as_("alice", **{"If-Match": stale_tag})
        )
        problem(refused, 412, "PRECONDITION_FAILED")
    malformed = await client.patch(
        url, json={"name": "renamed"}, headers=as_("alice", **{"If-Match": "no quotes"})
    )
    assert problem(malformed, 400, "INVALID_IF_MATCH")["errors"][0]["pointer"] == "/If-Match"

    edited = await client.patch(
        url, json={"name": "renamed"}, headers=as_("alice", **{"If-Match": etag})
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"]["name"] == "renamed"
    assert edited.json()["data"]["version"] == 2
    assert edited.headers["etag"] == etag_of(edited.content) != etag
    assert (await read(client, market["id"])).content == edited.content

    again = await client.patch(
        url, json={"name": "lost"}, headers=as_("alice", **{"If-Match": etag})
    )
    problem(again, 412, "PRECONDITION_FAILED")
    replaced = await client.put(
        url,
        json={"name": "replaced", "description": "", "status": "active"},
        headers=as_("alice", **{"If-Match": f'"other", {edited.headers["etag"]}'}),
    )
    assert replaced.status_code == 200, replaced.text
    anything = await client.patch(
        url, json={"status": "closed"}, headers=as_("alice", **{"If-Match": "*"})
    )
    assert anything.status_code == 200, anything.text
    final = (await read(client, market["id"])).json()["data"]
    assert (final["name"], final["status"], final["version"]) == ("replaced", "closed", 4)


async def test_edits_follow_the_allowed_transitions(client: httpx.AsyncClient) -> None:
    market = await create(client)
    url = f"{MARKETS}/{market['id']}"

    async def move(status: str) -> httpx.Response:
        return await client.patch(url, json={"status": status}, headers=as_("alice"))

    assert (await move("active")).json()["data"]["status"] == "active"
    back = problem(await move("draft"), 409, "INVALID_STATUS_TRANSITION")
    assert (back["current_status"], back["requested_status"]) == ("active", "draft")
    assert (await move("closed")).json()["data"]["status"] == "closed"
    problem(await move("active"), 409, "INVALID_STATUS_TRANSITION")
    problem(await move("resolved"), 422, "REQUEST_VALIDATION_FAILED")
    put = await client.put(
        url, json={"name": "x", "description": "", "status": "active"}, headers=as_("alice")
    )
    problem(put, 409, "INVALID_STATUS_TRANSITION")
    assert (await read(client, market["id"])).json()["data"]["version"] == 3


async def test_patch_changes_only_what_is_sent_and_refuses_null(
    client: httpx.AsyncClient,
) -> None:
    market = await create(client, description="kept")
    url = f"{MARKETS}/{market['id']}"
    before = await read(client, market["id"])

    nothing = await client.patch(url, json={}, headers=as_("alice"))
    assert nothing.status_code == 200
    assert nothing.content == before.content
    for member in ("name", "description", "status"):
        refused = await client.patch(url, json={member: None}, headers=as_("alice"))
        body = problem(refused, 422, "REQUEST_VALIDATION_FAILED")
        assert [error["pointer"] for error in body["errors"]] == [f"/{member}"]
    assert (await read(client, market["id"])).content == before.content

    renamed = await client.patch(url, json={"name": "new name"}, headers=as_("alice"))
    data = renamed.json()["data"]
    assert (data["name"], data["description"], data["status"]) == ("new name", "kept", "draft")


@pytest.mark.parametrize(
    "text",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "a\x00b"},
        {"name": "x" * 201},
        {"description": "y" * 5001},
    ],
)
async def test_text_outside_the_documented_limits_is_a_422(
    client: httpx.AsyncClient, text: dict[str, str]
) -> None:
    response = await client.post(MARKETS, json={"name": "ok", **text}, headers=as_("alice"))
    body = problem(response, 422, "REQUEST_VALIDATION_FAILED")
    assert body["errors"][0]["pointer"] == f"/{next(iter(text))}"


SERVER_OWNED = {
    "id": str(uuid4()),
    "volume": "1000",
    "creator_id": str(uuid4()),
    "version": 99,
    "outcome": "yes",
    "created_at": "2030-01-01T00:00:00Z",
    "updated_at": "2030-01-01T00:00:00Z",
}


@pytest.mark.parametrize("field", sorted(SERVER_OWNED))
async def test_server_owned_fields_are_refused_and_change_nothing(
    client: httpx.AsyncClient, field: str
) -> None:
    market = await create(client, status="active")
    url = f"{MARKETS}/{market['id']}"
    before = await read(client, market["id"])
    smuggled = {field: SERVER_OWNED[field]}
    attempts = [
        client.post(MARKETS, json={"name": "smuggler", **smuggled}, headers=as_("bob")),
        client.patch(url, json={"name": "changed", **smuggled}, headers=as_("alice")),
        client.put(
            url,
            json={"name": "changed", "description": "", "status": "active", **smuggled},
            headers=as_("alice"),
        ),
    ]
    for attempt in attempts:
        body = problem(await attempt, 422, "REQUEST_VALIDATION_FAILED")
        assert [error["pointer"] for error in body["errors"]] == [f"/{field}"]
    assert (await read(client, market["id"])).content == before.content
    listed = await client.get(MARKETS, params={"q": "smuggler"})
    assert listed.json()["meta"]["total"] == 0


async def test_another_users_market_does_not_exist_for_their_writes(
    client: httpx.AsyncClient,
) -> None:
    """BOLA: bob's writes on alice's markets are 404s, as for a market that does not exist."""
    draft = await create(client)
    live = await create(client, status="active")
    for market in (draft, live):
        url = f"{MARKETS}/{market['id']}"
        before = await read(client, market["id"])
        etag = before.headers["etag"]
        for attempt in (
            client.patch(url, json={"name": "hijacked"}, headers=as_("bob")),
            client.patch(url, json={"name": "hijacked"}, headers=as_("bob", **{"If-Match": etag})),
            client.put(
                url,
                json={"name": "hijacked", "description": "", "status": "closed"},
                headers=as_("bob"),
            ),
        ):
            body = problem(await attempt, 404, "MARKET_NOT_FOUND")
            assert body["detail"] == f"Market {market['id']} does not exist."
        assert (await read(client, market["id"])).content == before.content
    # Bob holds neither the delete permission nor the moderator role: refused before any lookup.
    for attempt in (
        client.delete(f"{MARKETS}/{draft['id']}", headers=as_("bob")),
        client.post(f"{MARKETS}/{live['id']}/resolve", json={"outcome": "no"}, headers=as_("bob")),
    ):
        problem(await attempt, 403, "FORBIDDEN")
    assert (await read(client, draft["id"])).status_code == 200
    assert (await read(client, live["id"])).json()["data"]["status"] == "active"


async def test_moderators_edit_and_delete_any_market(client: httpx.AsyncClient) -> None:
    draft = await create(client)
    url = f"{MARKETS}/{draft['id']}"
    edited = await client.patch(url, json={"description": "tidied"}, headers=as_("mona"))
    assert edited.status_code == 200, edited.text
    deleted = await client.delete(url, headers=as_("mona"))
    assert (deleted.status_code, deleted.content) == (204, b"")
    problem(await read(client, draft["id"]), 404, "MARKET_NOT_FOUND")
    problem(await client.delete(url, headers=as_("mona")), 404, "MARKET_NOT_FOUND")
    problem(
        await client.delete(f"{MARKETS}/{uuid4()}", headers=as_("mona")), 404, "MARKET_NOT_FOUND"
    )


async def test_deleting_needs_the_delete_permission(client: httpx.AsyncClient) -> None:
    market = await create(client)
    own = await client.delete(f"{MARKETS}/{market['id']}", headers=as_("alice"))
    assert problem(own, 403, "FORBIDDEN")["missing_permissions"] == ["delete"]
    key = as_("mona", **{"X-Test-Scopes": "read,write"})
    problem(await client.delete(f"{MARKETS}/{market['id']}", headers=key), 403, "FORBIDDEN")
    assert (await read(client, market["id"])).status_code == 200


async def test_moderators_resolve_active_or_closed_markets_once(
    client: httpx.AsyncClient,
) -> None:
    live = await create(client, status="active")
    url = f"{MARKETS}/{live['id']}/resolve"
    resolved = await client.post(url, json={"outcome": "yes"}, headers=as_("mona"))
    assert resolved.status_code == 200, resolved.text
    data = resolved.json()["data"]
    assert (data["status"], data["outcome"], data["version"]) == ("resolved", "yes", 2)
    assert resolved.headers["etag"] == (await read(client, live["id"])).headers["etag"]
    again = await client.post(url, json={"outcome": "no"}, headers=as_("mona"))
    problem(again, 409, "INVALID_STATUS_TRANSITION")

    draft = await create(client)
    too_early = await client.post(
        f"{MARKETS}/{draft['id']}/resolve", json={"outcome": "no"}, headers=as_("mona")
    )
    problem(too_early, 409, "INVALID_STATUS_TRANSITION")
    assert (await read(client, draft["id"])).json()["data"]["status"] == "draft"


async def test_resolving_needs_a_signed_in_moderator(client: httpx.AsyncClient) -> None:
    live = await create(client, status="active")
    url = f"{MARKETS}/{live['id']}/resolve"
    owner = await client.post(url, json={"outcome": "yes"}, headers=as_("alice"))
    assert problem(owner, 403, "FORBIDDEN")["required_roles"] == ["moderator", "admin"]
    key = as_("mona", **{"X-Test-Scopes": "read,write,delete"})
    problem(await client.post(url, json={"outcome": "yes"}, headers=key), 403, "FORBIDDEN")
    anonymous = await client.post(url, json={"outcome": "yes"})
    problem(anonymous, 401, "AUTHENTICATION_REQUIRED")
    bad = await client.post(url, json={"outcome": "maybe"}, headers=as_("mona"))
    problem(bad, 422, "REQUEST_VALIDATION_FAILED")
    assert (await read(client, live["id"])).json()["data"]["status"] == "active"


async def test_anonymous_writes_are_401(client: httpx.AsyncClient) -> None:
    market = await create(client, status="active")
    url = f"{MARKETS}/{market['id']}"
    for attempt in (
        client.post(MARKETS, json={"name": "x"}),
        client.patch(url, json={"name": "x"}),
        client.put(url, json={"name": "x", "description": "", "status": "active"}),
        client.delete(url),
    ):
        response = await attempt
        problem(response, 401, "AUTHENTICATION_REQUIRED")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_refusals_are_the_documented_examples(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """What the document shows for 401, 403 and 404 is exactly what a client gets."""
    spec = app.openapi()
    market = await create(client)
    operation = spec["paths"][f"{MARKETS}/{{market_id}}"]["patch"]

    def documented(status: int) -> list[dict[str, Any]]:
        examples = operation["responses"][str(status)]["content"][PROBLEM_JSON]["examples"]
        return [example["value"] for example in examples.values()]

    url = f"{MARKETS}/{market['id']}"
    answers = {
        401: await client.patch(url, json={}),
        403: await client.patch(url, json={}, headers=as_("alice", **{"X-Test-Scopes": "read"})),
    }
    for status, response in answers.items():
        body = response.json()
        ignored = {"instance", "request_id"}
        assert any(
            {k: v for k, v in body.items() if k not in ignored}
            == {k: v for k, v in example.items() if k not in ignored}
            for example in documented(status)
        ), (status, body)
    missing = (await client.patch(url, json={}, headers=as_("bob"))).json()
    (example,) = documented(404)
    assert (missing["code"], missing["title"], missing["type"]) == (
        example["code"],
        example["title"],
        example["type"],
    )


class RacedMarketRepository(MarketRepository):
    """Runs a rival writer right after the market is read, before it is written back."""

    rival: Callable[[], Awaitable[None]] | None = None

    async def get_by_id(self, entity_id: Any) -> Market | None:
        found = await super().get_by_id(entity_id)
        rival, self.rival = self.rival, None
        if rival is not None:
            await rival()
        return found


class RacedUnitOfWork(MarketsUnitOfWork):
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        rival: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(sessionmaker)
        self.rival: Callable[[], Awaitable[None]] | None = rival

    def create_repositories(self, session: Any) -> None:
        super().create_repositories(session)
        self.markets = RacedMarketRepository(session)
        self.markets.rival, self.rival = self.rival, None


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_write_that_lands_in_between_is_a_409_and_is_kept(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    new_uow: Callable[[], MarketsUnitOfWork],
) -> None:
    """PostgreSQL only: on SQLite writers queue, so no write can land inside another."""
    market = await create(client)
    market_id = UUID(market["id"])

    async def rival() -> None:
        async with new_uow() as uow:
            theirs = await uow.markets.get_one(market_id)
            theirs.name = "theirs"
            await uow.markets.update(theirs)

    async def raced_service() -> MarketService:
        return MarketService(RacedUnitOfWork(database.sessionmaker, rival))

    app.dependency_overrides[market_service] = raced_service
    response = await client.patch(
        f"{MARKETS}/{market_id}", json={"description": "mine"}, headers=as_("alice")
    )
    problem(response, 409, "STALE_VERSION")
    del app.dependency_overrides[market_service]
    after = (await read(client, market["id"])).json()["data"]
    assert (after["name"], after["description"], after["version"]) == ("theirs", "", 2)
