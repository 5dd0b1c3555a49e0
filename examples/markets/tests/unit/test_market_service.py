from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from markets.domain.errors import (
    InvalidTransitionError,
    MarketNotActiveError,
    MarketNotFoundError,
)
from markets.domain.markets import MarketStatus, Outcome
from markets.domain.positions import Side
from markets.domain.users import Actor
from markets.repositories.unit_of_work import InMemoryMarketsUnitOfWork
from markets.services.markets import MarketChanges, MarketDraft, MarketService
from markets.services.positions import PositionService
from tiered.errors import (
    AuthorizationError,
    InvalidInputError,
    PreconditionFailedError,
    StaleVersionError,
)
from tiered.repository import Filter, OffsetPage


@pytest.fixture
def service(uow: InMemoryMarketsUnitOfWork) -> MarketService:
    return MarketService(uow)


async def test_create_returns_detail_with_creator(
    service: MarketService, uow: InMemoryMarketsUnitOfWork, alice: Actor
) -> None:
    detail = await service.create(alice, MarketDraft("Rain tomorrow?", "Weather"))
    assert detail.status is MarketStatus.DRAFT
    assert detail.creator.id == alice.user_id
    assert detail.creator.display_name == "Alice"
    assert detail.version == 1
    assert detail.volume == Decimal(0)
    assert uow.commits == 1


@pytest.mark.parametrize("status", [MarketStatus.CLOSED, MarketStatus.RESOLVED])
async def test_a_market_cannot_start_closed_or_resolved(
    service: MarketService, uow: InMemoryMarketsUnitOfWork, alice: Actor, status: MarketStatus
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        await service.create(alice, MarketDraft("x", status=status))
    assert refused.value.code == "INVALID_INITIAL_STATUS"
    assert (await service.list(alice, filters=(Filter.eq("creator_id", alice.user_id),))).total == 0


async def test_draft_visible_to_creator_and_moderator_only(
    service: MarketService, alice: Actor, bob: Actor, moderator: Actor
) -> None:
    draft = await service.create(alice, MarketDraft("secret plan"))
    assert (await service.get(alice, draft.id)).id == draft.id
    assert (await service.get(moderator, draft.id)).id == draft.id
    for viewer in (bob, None):
        with pytest.raises(MarketNotFoundError):
            await service.get(viewer, draft.id)


async def test_list_hides_other_peoples_drafts(
    service: MarketService, alice: Actor, bob: Actor, moderator: Actor
) -> None:
    await service.create(alice, MarketDraft("alice draft"))
    await service.create(alice, MarketDraft("alice live", status=MarketStatus.ACTIVE))
    await service.create(bob, MarketDraft("bob draft"))

    def names(page_items: object) -> set[str]:
        return {item.name for item in page_items}  # type: ignore[attr-defined]

    assert names((await service.list(None)).items) == {"alice live"}
    assert names((await service.list(bob)).items) == {"alice live"}
    mine = await service.list(bob, filters=(Filter.eq("creator_id", bob.user_id),))
    assert names(mine.items) == {"bob draft"}
    assert names((await service.list(moderator)).items) == {
        "alice draft",
        "alice live",
        "bob draft",
    }


async def test_update_follows_allowed_transitions(service: MarketService, alice: Actor) -> None:
    created = await service.create(alice, MarketDraft("m"))
    active = await service.update(
        alice, created.id, MarketChanges(status=MarketStatus.ACTIVE), created.version
    )
    assert active.status is MarketStatus.ACTIVE
    assert active.version == created.version + 1
    with pytest.raises(InvalidTransitionError) as refused:
        await service.update(alice, created.id, MarketChanges(status=MarketStatus.DRAFT), None)
    assert refused.value.status == 409
    assert refused.value.details == {"current_status": "active", "requested_status": "draft"}


async def test_stale_if_match_is_412(service: MarketService, alice: Actor) -> None:
    created = await service.create(alice, MarketDraft("m"))
    await service.update(alice, created.id, MarketChanges(name="renamed"), created.version)
    with pytest.raises(PreconditionFailedError):
        await service.update(alice, created.id, MarketChanges(name="again"), created.version)


async def test_an_edit_that_changes_nothing_keeps_the_version(
    service: MarketService, uow: InMemoryMarketsUnitOfWork, alice: Actor
) -> None:
    created = await service.create(alice, MarketDraft("same", "text"))
    unchanged = await service.update(
        alice, created.id, MarketChanges(name="same", status=MarketStatus.DRAFT), created.version
    )
    assert unchanged == created
    renamed = await service.update(alice, created.id, MarketChanges(name="other"), None)
    assert (renamed.name, renamed.description, renamed.version) == ("other", "text", 2)


async def test_a_refused_transition_changes_no_other_field(
    service: MarketService, alice: Actor
) -> None:
    created = await service.create(alice, MarketDraft("before"))
    with pytest.raises(InvalidTransitionError):
        await service.update(
            alice, created.id, MarketChanges(name="after", status=MarketStatus.CLOSED), None
        )
    assert await service.get(alice, created.id) == created


async def test_editable_is_for_the_owner_and_moderators(
    service: MarketService, alice: Actor, bob: Actor, moderator: Actor
) -> None:
    live = await service.create(alice, MarketDraft("live", status=MarketStatus.ACTIVE))
    assert await service.editable(alice, live.id) == live
    assert await service.editable(moderator, live.id) == live
    assert await service.get(bob, live.id) == live
    with pytest.raises(MarketNotFoundError):
        await service.editable(bob, live.id)


async def test_other_users_market_is_not_found_for_writes(
    service: MarketService, alice: Actor, bob: Actor, moderator: Actor
) -> None:
    live = await service.create(alice, MarketDraft("live", status=MarketStatus.ACTIVE))
    with pytest.raises(MarketNotFoundError):
        await service.update(bob, live.id, MarketChanges(name="hijack"), None)
    with pytest.raises(MarketNotFoundError):
        await service.delete(bob, (await service.create(alice, MarketDraft("d"))).id)
    moderated = await service.update(moderator, live.id, MarketChanges(name="fixed"), None)
    assert moderated.name == "fixed"


async def test_replace_sets_every_field(service: MarketService, alice: Actor) -> None:
    created = await service.create(alice, MarketDraft("old", "old text"))
    replaced = await service.replace(
        alice, created.id, MarketDraft("new", "", MarketStatus.ACTIVE), created.version
    )
    assert (replaced.name, replaced.description, replaced.status) == (
        "new",
        "",
        MarketStatus.ACTIVE,
    )


async def test_only_moderators_resolve(service: MarketService, alice: Actor, bob: Actor) -> None:
    live = await service.create(alice, MarketDraft("mine", status=MarketStatus.ACTIVE))
    with pytest.raises(AuthorizationError):
        await service.resolve(alice, live.id, Outcome.YES)
    with pytest.raises(MarketNotFoundError):
        await service.resolve(bob, live.id, Outcome.YES)
    assert (await service.get(alice, live.id)).status is MarketStatus.ACTIVE


async def test_resolve_only_from_active_or_closed(
    service: MarketService, alice: Actor, moderator: Actor
) -> None:
    draft = await service.create(alice, MarketDraft("d"))
    with pytest.raises(InvalidTransitionError):
        await service.resolve(moderator, draft.id, Outcome.YES)
    live = await service.create(alice, MarketDraft("l", status=MarketStatus.ACTIVE))
    resolved = await service.resolve(moderator, live.id, Outcome.NO)
    assert (resolved.status, resolved.outcome) == (MarketStatus.RESOLVED, Outcome.NO)
    with pytest.raises(InvalidTransitionError):
        await service.resolve(moderator, live.id, Outcome.YES)
    assert (await service.get(alice, live.id)).outcome is Outcome.NO
    closed = await service.create(alice, MarketDraft("c", status=MarketStatus.ACTIVE))
    await service.update(alice, closed.id, MarketChanges(status=MarketStatus.CLOSED), None)
    assert (await service.resolve(moderator, closed.id, Outcome.YES)).outcome is Outcome.YES


async def test_delete_removes(service: MarketService, alice: Actor) -> None:
    created = await service.create(alice, MarketDraft("gone"))
    await service.delete(alice, created.id)
    with pytest.raises(MarketNotFoundError):
        await service.get(alice, created.id)
    with pytest.raises(MarketNotFoundError):
        await service.delete(alice, created.id)


async def test_buy_raises_volume_and_version(
    uow: InMemoryMarketsUnitOfWork, service: MarketService, alice: Actor, bob: Actor
) -> None:
    live = await service.create(alice, MarketDraft("live", status=MarketStatus.ACTIVE))
    positions = PositionService(uow)
    await positions.buy(bob, live.id, Side.YES, Decimal("10.5"))
    await positions.buy(bob, live.id, Side.NO, Decimal("2"))
    after = await service.get(bob, live.id)
    assert after.volume == Decimal("12.5")
    assert after.version == live.version + 2
    mine = await positions.of_user(bob)
    assert [p.amount for p in mine.items] == [Decimal("2"), Decimal("10.5")]
    assert mine.items[0].market.id == live.id


async def test_buy_on_inactive_market_is_409_and_changes_nothing(
    uow: InMemoryMarketsUnitOfWork, service: MarketService, alice: Actor, moderator: Actor
) -> None:
    draft = await service.create(moderator, MarketDraft("draft"))
    positions = PositionService(uow)
    with pytest.raises(MarketNotActiveError):
        await positions.buy(moderator, draft.id, Side.YES, Decimal(1))
    with pytest.raises(MarketNotFoundError):
        await positions.buy(alice, draft.id, Side.YES, Decimal(1))
    with pytest.raises(MarketNotFoundError):
        await positions.buy(alice, uuid4(), Side.YES, Decimal(1))
    assert (await service.get(moderator, draft.id)).volume == Decimal(0)
    assert (await positions.of_user(moderator, page=OffsetPage())).total == 0


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-1")])
async def test_buy_needs_positive_amount(
    uow: InMemoryMarketsUnitOfWork, alice: Actor, amount: Decimal
) -> None:
    with pytest.raises(InvalidInputError):
        await PositionService(uow).buy(alice, uuid4(), Side.YES, amount)


async def test_concurrent_stale_update_is_a_conflict(
    uow: InMemoryMarketsUnitOfWork, service: MarketService, alice: Actor
) -> None:
    created = await service.create(alice, MarketDraft("race"))

    async def lose_race() -> None:
        async with uow:
            mine = await uow.markets.get_one(created.id)
            assert await uow.markets.get_one(created.id) is mine, "one object per id"
            async with InMemoryMarketsUnitOfWork(uow.store) as other:
                theirs = await other.markets.get_one(created.id)
                theirs.name = "theirs"
            mine.name = "mine"
            await uow.markets.update(mine)

    with pytest.raises(StaleVersionError):
        await lose_race()
    assert (await service.get(alice, created.id)).name == "theirs"


async def test_rolled_back_volume_change_is_undone(
    uow: InMemoryMarketsUnitOfWork, service: MarketService, alice: Actor
) -> None:
    live = await service.create(alice, MarketDraft("live", status=MarketStatus.ACTIVE))

    async def failing_purchase() -> None:
        async with uow:
            assert await uow.markets.add_volume(live.id, Decimal(5))
            raise RuntimeError("payment failed")

    with pytest.raises(RuntimeError):
        await failing_purchase()
    assert (await service.get(alice, live.id)).volume == Decimal(0)


async def test_an_amount_finer_than_the_column_is_refused_not_rounded(
    uow: InMemoryMarketsUnitOfWork, service: MarketService, alice: Actor, bob: Actor
) -> None:
    live = await service.create(alice, MarketDraft("fine", status=MarketStatus.ACTIVE))
    with pytest.raises(InvalidInputError) as caught:
        await PositionService(uow).buy(bob, live.id, Side.YES, Decimal("0.00005"))
    assert caught.value.status == 400
    assert "4 decimal places" in caught.value.message
    assert (await service.get(bob, live.id)).volume == Decimal(0)
