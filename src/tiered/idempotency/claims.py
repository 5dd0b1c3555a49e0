"""Taking, keeping and giving back an idempotency key in a :class:`~tiered.store.Store`.

A request claims its key with one atomic ``set_if_absent`` of an in-flight
record that expires after a *lease*: of two requests racing with the same
key, exactly one wins, and a process that dies mid-request cannot hold the
key for longer than the lease. The winner then either completes (its
response replaces the claim, kept for the retention period) or releases the
key (its handler raised, or answered 5xx), so a retry runs afresh.

The lease must outlast the slowest handler: once it expires, a retry may run
while the first request is still running.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tiered.errors.hierarchy import CacheError
from tiered.idempotency.errors import key_in_use, key_reused
from tiered.idempotency.records import Completed, InFlight, StoredResponse, decode_record
from tiered.observability.logging import get_logger
from tiered.store.protocol import Store

__all__ = ["Claim", "claim_key"]

_log = get_logger("tiered.idempotency")
_ATTEMPTS = 3


@dataclass(slots=True)
class Claim:
    """A key this request holds, until it completes or releases it."""

    store: Store
    key: str
    record: InFlight
    ttl: float
    handled: bool = False
    """Whether the handler returned (rather than raised); only then is its response kept."""
    settled: bool = False

    async def complete(self, response: StoredResponse) -> None:
        """Keep ``response`` for the retention period, in place of the claim."""
        if self.settled:
            return
        self.settled = True
        record = Completed(self.record.fingerprint, response).encode()
        try:
            await self.store.set(self.key, record, ttl=self.ttl)
        except CacheError:
            _log.warning("idempotency_store_failed", operation="complete")

    async def release(self) -> None:
        """Give the key back, if the claim is still this request's, so a retry can run.

        Never raises: it runs while another error is on its way to the client.
        """
        if self.settled:
            return
        self.settled = True
        try:
            if await self.store.get(self.key) == self.record.encode():
                await self.store.delete(self.key)
        except CacheError:
            _log.warning("idempotency_store_failed", operation="release")


async def claim_key(
    store: Store, key: str, fingerprint: bytes, *, lease: float, ttl: float
) -> Claim | StoredResponse:
    """Claim ``key`` for a request with ``fingerprint``, or the response to replay.

    Raises the 409 problem while another request with the same fingerprint
    holds the key, and the 422 one when the key was used for another request.
    """
    claimed = InFlight(fingerprint, os.urandom(16))
    for _ in range(_ATTEMPTS):
        if await store.set_if_absent(key, claimed.encode(), ttl=lease):
            return Claim(store, key, claimed, ttl)
        value = await store.get(key)
        if value is None:
            continue  # released or expired in between: try again
        existing = decode_record(value)
        if existing.fingerprint != fingerprint:
            raise key_reused()
        if isinstance(existing, Completed):
            return existing.response
        raise key_in_use()
    raise key_in_use()
