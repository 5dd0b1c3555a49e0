"""Effects that happen once, although the job may run more than once.

A worker can die after a job's effect committed but before the job was marked
done; the job then runs again. :func:`run_once` writes a ``job_executions``
row keyed by job id and effect key in the same transaction as the effect:
both commit or neither does, so a later try finds the row and skips the
effect. The row is inserted first (``ON CONFLICT DO NOTHING``), so two
workers racing on one job (a lease expired under a live but slow worker)
serialise on it: on PostgreSQL the second waits for the first to commit and
then skips; on SQLite writers take turns anyway.

For an effect outside the database (an email, a payment call), no
transaction covers both sides: pass :meth:`JobContext.effect_key` to the
service as its idempotency key instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tiered.jobs.context import JobContext
from tiered.jobs.sql import HasSession, dialect_of, insert_unless_present, session_of
from tiered.jobs.tables import EFFECT_KEY_LENGTH

__all__ = ["run_once"]


async def run_once(
    ctx: JobContext,
    uow: HasSession | AsyncSession,
    effect_key: str,
    effect: Callable[[], Awaitable[object]],
) -> bool:
    """Run ``effect`` in ``uow``'s transaction unless this job already committed it.

    ``uow`` is an active tiered ``UnitOfWork`` (or its session) on the jobs'
    database, and ``effect`` writes through it. True when the effect ran now,
    False when an earlier try had committed it.
    """
    if not 0 < len(effect_key) <= EFFECT_KEY_LENGTH:
        raise ValueError(f"an effect key has 1 to {EFFECT_KEY_LENGTH} characters")
    session = session_of(uow)
    executions = ctx.tables.executions
    recorded = await session.execute(
        insert_unless_present(
            dialect_of(session),
            executions,
            ["job_id", "effect_key"],
            job_id=ctx.job_id,
            effect_key=effect_key,
            attempt=ctx.attempt,
            worker=ctx.worker,
            created_at=ctx.clock.now(),
        ).returning(executions.c.job_id)
    )
    if recorded.first() is None:
        return False
    await effect()
    return True
