"""Market use cases: one public method, one unit of work."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

from markets.domain.errors import MarketNotFoundError
from markets.domain.markets import INITIAL_STATUSES, Market, MarketStatus, Outcome
from markets.domain.users import Actor
from markets.repositories.unit_of_work import MarketsUnitOfWorkPort
from markets.services.read_models import MarketDetail, MarketSummary
from markets.services.tasks import ANNOUNCE_RESOLUTION, ResolutionAnnouncement
from tiered.cache import Cache
from tiered.clock import Clock, SystemClock
from tiered.errors import AuthorizationError, FieldError, InvalidInputError, PreconditionFailedError
from tiered.repository import Filter, OffsetPage, Op, Page, PageRequest, SortKey

__all__ = [
    "MARKET_DETAILS_TAG",
    "MarketChanges",
    "MarketDetailCache",
    "MarketDraft",
    "MarketService",
]

_FIRST_PAGE = OffsetPage()

MARKET_DETAILS_TAG = "market-details"
"""Every cached market detail carries it: bumping it drops them all at once (a creator's
display name, embedded in each of their markets, changed)."""

_DETAIL_SHAPE = hashlib.sha256(
    json.dumps(MarketDetail.model_json_schema(), sort_keys=True).encode()
).hexdigest()[:12]
"""Part of every key: a process that reads another shape of ``MarketDetail`` (a rolling
deploy) never meets entries it cannot decode."""


@dataclass(frozen=True, slots=True)
class MarketDraft:
    name: str
    description: str = ""
    status: MarketStatus = MarketStatus.DRAFT


@dataclass(frozen=True, slots=True)
class MarketChanges:
    """A partial update: ``None`` leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    status: MarketStatus | None = None


class MarketDetailCache:
    """A market's detail, as ``GET /markets/{id}`` reads it, through the application cache.

    The entry is the market as stored, drafts included: who may see it is
    decided after reading, on every request, so a draft served from the cache
    is exactly as private as one read from the database. A write drops the
    entry once it commits, in every process; a rolled-back one drops nothing.
    Without a cache (``None``), reads go straight to the database.
    """

    def __init__(self, cache: Cache | None) -> None:
        self.cache = cache

    @staticmethod
    def key(market_id: UUID) -> str:
        return f"market-detail:{_DETAIL_SHAPE}:{market_id}"

    async def read(
        self, market_id: UUID, load: Callable[[], Awaitable[MarketDetail]]
    ) -> MarketDetail:
        """The cached detail, or ``load()``'s (a miss raising ``MarketNotFoundError`` caches
        nothing)."""
        if self.cache is None:
            return await load()
        return await self.cache.get_or_set(
            self.key(market_id), load, codec=MarketDetail, tags=(MARKET_DETAILS_TAG,)
        )

    def invalidate_after_commit(self, uow: MarketsUnitOfWorkPort, market_id: UUID) -> None:
        cache = self.cache
        if cache is None:
            return
        key = self.key(market_id)

        async def drop_market_detail() -> None:
            await cache.delete(key, tags=(MARKET_DETAILS_TAG,))

        uow.after_commit(drop_market_detail)

    def invalidate_all_after_commit(self, uow: MarketsUnitOfWorkPort) -> None:
        """Drop every market's detail once ``uow`` commits: one tag bump, no scan."""
        if self.cache is not None:
            uow.after_commit(self.cache.invalidation(tags=[MARKET_DETAILS_TAG]))


def _visible_filters(viewer: Actor | None, filters: tuple[Filter, ...]) -> tuple[Filter, ...]:
    """Drafts are listed to moderators, and to their creator when filtering on themselves."""
    if viewer is not None and viewer.moderates:
        return filters
    own = viewer is not None and any(
        item.field == "creator_id" and item.op is Op.EQ and item.value == viewer.user_id
        for item in filters
    )
    if own:
        return filters
    return (*filters, Filter("status", Op.NE, MarketStatus.DRAFT))


class MarketService:
    """Object-level rules: another user's market is a 404 for every write.

    Whoever may not edit a market learns nothing from trying, not even that a
    draft exists; a public market they can read still answers 404 to their
    writes, so the answer never depends on what they could have found out.
    """

    def __init__(
        self,
        uow: MarketsUnitOfWorkPort,
        clock: Clock | None = None,
        *,
        cache: Cache | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock or SystemClock()
        self.details = MarketDetailCache(cache)

    async def list(
        self,
        viewer: Actor | None,
        *,
        filters: tuple[Filter, ...] = (),
        search: str | None = None,
        sort: tuple[SortKey, ...] = (),
        page: PageRequest = _FIRST_PAGE,
    ) -> Page[MarketSummary]:
        async with self.uow.read_only() as uow:
            return await uow.markets.find(
                _visible_filters(viewer, filters),
                search=search,
                sort=sort,
                page=page,
                into=MarketSummary,
            )

    async def get(self, viewer: Actor | None, market_id: UUID) -> MarketDetail:
        """Through the cache: a hit opens no transaction and runs no statement."""
        detail = await self.details.read(market_id, lambda: self._stored_detail(market_id))
        if not _visible(detail, viewer):
            raise MarketNotFoundError(market_id)
        return detail

    async def editable(self, actor: Actor, market_id: UUID) -> MarketDetail:
        """The market as ``actor`` would edit it: its owner or a moderator, else a 404.

        A conditional write reads this first, to compare the client's ETag with
        the current representation before anything is written.
        """
        async with self.uow.read_only() as uow:
            detail = await self._detail(uow, actor, market_id)
        if not (actor.moderates or detail.creator.id == actor.user_id):
            raise MarketNotFoundError(market_id)
        return detail

    async def create(self, actor: Actor, draft: MarketDraft) -> MarketDetail:
        if draft.status not in INITIAL_STATUSES:
            raise InvalidInputError(
                f"A new market starts as draft or active, not {draft.status.value}.",
                code="INVALID_INITIAL_STATUS",
                errors=[FieldError("/status", "draft or active")],
            )
        now = self.clock.now()
        market = Market(
            id=uuid4(),
            name=draft.name,
            description=draft.description,
            creator_id=actor.user_id,
            status=draft.status,
            created_at=now,
            updated_at=now,
        )
        async with self.uow as uow:
            await uow.markets.create(market)
            return await self._detail(uow, actor, market.id)

    async def replace(
        self, actor: Actor, market_id: UUID, draft: MarketDraft, expected_version: int | None
    ) -> MarketDetail:
        changes = MarketChanges(draft.name, draft.description, draft.status)
        return await self.update(actor, market_id, changes, expected_version)

    async def update(
        self,
        actor: Actor,
        market_id: UUID,
        changes: MarketChanges,
        expected_version: int | None,
    ) -> MarketDetail:
        """Edit a market its owner or a moderator may edit.

        ``expected_version`` is the version the caller based the edit on: a
        mismatch is a 412 before anything is written, and a writer that commits
        between this read and the write is a 409 from the version column.
        """
        async with self.uow as uow:
            market = await self._editable(uow, actor, market_id, expected_version)
            if market.edit(
                self.clock.now(),
                name=changes.name,
                description=changes.description,
                status=changes.status,
            ):
                await uow.markets.update(market)
                self.details.invalidate_after_commit(uow, market_id)
            return await self._detail(uow, actor, market_id)

    async def delete(self, actor: Actor, market_id: UUID) -> None:
        async with self.uow as uow:
            market = await self._editable(uow, actor, market_id, None)
            await uow.markets.delete(market)
            self.details.invalidate_after_commit(uow, market_id)

    async def resolve(self, actor: Actor, market_id: UUID, outcome: Outcome) -> MarketDetail:
        """Moderators settle a market: from active or closed to resolved, once.

        The holders are told by a job enqueued in the same transaction (see
        ``resolution_notices``): one insert here, whatever the number of holders.
        """
        async with self.uow as uow:
            market = await self._editable(uow, actor, market_id, None)
            if not actor.moderates:
                raise AuthorizationError(
                    "Only moderators resolve markets.", code="MODERATOR_REQUIRED"
                )
            market.resolve(outcome, self.clock.now())
            await uow.markets.update(market)
            await uow.jobs.enqueue(
                ANNOUNCE_RESOLUTION,
                ResolutionAnnouncement(market_id=market_id),
                dedup_key=f"market-resolution:{market_id}",
            )
            self.details.invalidate_after_commit(uow, market_id)
            return await self._detail(uow, actor, market_id)

    async def _editable(
        self,
        uow: MarketsUnitOfWorkPort,
        actor: Actor,
        market_id: UUID,
        expected_version: int | None,
    ) -> Market:
        market = await uow.markets.get_by_id(market_id)
        if market is None or not market.visible_to(actor) or not market.editable_by(actor):
            raise MarketNotFoundError(market_id)
        if expected_version is not None and expected_version != market.version:
            raise PreconditionFailedError(
                "The market changed since you read it (If-Match does not match its ETag).",
                details={"current_version": market.version},
            )
        return market

    async def _stored_detail(self, market_id: UUID) -> MarketDetail:
        async with self.uow.read_only() as uow:
            detail = await uow.markets.find_one([Filter.eq("id", market_id)], into=MarketDetail)
        if detail is None:
            raise MarketNotFoundError(market_id)
        return detail

    async def _detail(
        self, uow: MarketsUnitOfWorkPort, viewer: Actor | None, market_id: UUID
    ) -> MarketDetail:
        detail = await uow.markets.find_one([Filter.eq("id", market_id)], into=MarketDetail)
        if detail is None or not _visible(detail, viewer):
            raise MarketNotFoundError(market_id)
        return detail


def _visible(detail: MarketDetail, viewer: Actor | None) -> bool:
    if detail.status is not MarketStatus.DRAFT:
        return True
    return viewer is not None and (viewer.moderates or viewer.user_id == detail.creator.id)
