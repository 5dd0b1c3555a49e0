"""Importing markets from a CSV file: accepted at once, run by a job, reported per row.

``start`` checks that the upload is a CSV file with the right columns (a 422
at once otherwise) and enqueues the import in the same transaction, owned by
the uploader, who alone can read its status. The job parses the file in a
thread, writes the valid rows in batches (one multi-row ``INSERT`` each),
and reports its progress in the transaction of each batch, so what it says
is done is done. Each batch is written at most once (``run_once``): a job
that runs again after a crash continues after the last committed batch.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from uuid import UUID, uuid4

from markets.domain.markets import Market
from markets.domain.users import Actor
from markets.repositories.unit_of_work import MarketsUnitOfWork, MarketsUnitOfWorkPort
from markets.services.market_rows import RowError, decode_csv, parse_market_rows
from markets.services.markets import MarketDraft
from markets.services.tasks import IMPORT_MARKETS, MarketImport
from tiered.clock import Clock
from tiered.jobs import JobContext, PermanentJobFailure, run_once
from tiered.repository import Filter, ReadModel

__all__ = ["ImportReport", "ImportService", "MarketImporter"]

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True, slots=True)
class ImportReport:
    filename: str
    rows: int
    created: int
    rejected: int
    errors: tuple[RowError, ...]
    """The first 1000 rejected rows' problems; ``rejected`` counts them all."""


def _filename(given: str | None) -> str:
    """The upload's base name, printable and at most 255 characters, for reports."""
    name = (given or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", name)[:255] or "upload.csv"


class ImportService:
    def __init__(self, uow: MarketsUnitOfWorkPort) -> None:
        self.uow = uow

    async def start(self, actor: Actor, filename: str | None, data: bytes) -> UUID:
        """The id of the import job, enqueued once the file's columns are checked."""
        text = await asyncio.to_thread(decode_csv, data)
        payload = MarketImport(creator_id=actor.user_id, filename=_filename(filename), content=text)
        async with self.uow as uow:
            queued = await uow.jobs.enqueue(IMPORT_MARKETS, payload, owner_id=str(actor.user_id))
        return queued.job_id


class _Uploader(ReadModel):
    is_active: bool


class MarketImporter:
    """The job: parse, check, then create the valid rows ``batch_size`` at a time."""

    def __init__(
        self, new_uow: Callable[[], MarketsUnitOfWork], clock: Clock, *, batch_size: int = 500
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.new_uow = new_uow
        self.clock = clock
        self.batch_size = batch_size

    async def run(self, ctx: JobContext, payload: MarketImport) -> ImportReport:
        parsed = await asyncio.to_thread(parse_market_rows, payload.content)
        async with self.new_uow().read_only() as uow:
            uploader = await uow.users.find_one(
                [Filter.eq("id", payload.creator_id)], into=_Uploader
            )
        if uploader is None or not uploader.is_active:
            raise PermanentJobFailure("the account that uploaded the file is gone or deactivated")
        total = len(parsed.drafts)
        await ctx.report_progress(0, total)
        for start in range(0, total, self.batch_size):
            batch = parsed.drafts[start : start + self.batch_size]
            async with self.new_uow() as uow:
                await run_once(
                    ctx,
                    uow,
                    f"batch-{start // self.batch_size}",
                    partial(self._create, uow, payload.creator_id, batch),
                )
                await ctx.report_progress(start + len(batch), total, uow=uow)
        return ImportReport(payload.filename, parsed.rows, total, parsed.rejected, parsed.errors)

    async def _create(
        self, uow: MarketsUnitOfWork, creator_id: UUID, drafts: Sequence[MarketDraft]
    ) -> None:
        now = self.clock.now()
        await uow.markets.create_many(
            [
                Market(
                    id=uuid4(),
                    name=draft.name,
                    description=draft.description,
                    creator_id=creator_id,
                    status=draft.status,
                    created_at=now,
                    updated_at=now,
                )
                for draft in drafts
            ]
        )
