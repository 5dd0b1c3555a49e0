"""GCRA, the generic cell rate algorithm, over several quotas at once.

Each quota keeps one number per client: its *theoretical arrival time* (TAT),
when the client's allowance would be full again if it sent nothing more. A
request is admitted when, after charging it one interval (``window / limit``),
the TAT is at most one window ahead of now. No counters, no windows to align:
one read and one write per quota, and a client gets back one request per
interval instead of its whole quota at a window boundary.

A request is admitted only if every quota admits it, and then every quota is
charged; a refused request charges none. The Redis script implements the same
arithmetic (see :mod:`tiered.ratelimit.redis_backend`); both work in microseconds.
This runs on every request, hence the plain loops.
"""

from __future__ import annotations

from collections.abc import Sequence

from tiered.ratelimit.decision import QuotaSet, QuotaState
from tiered.ratelimit.rates import Quota

__all__ = ["EPSILON_US", "evaluate", "evaluate_one"]

EPSILON_US = 1.0
"""Slack for floating-point rounding: an interval of 60/7 s is not a whole number of µs."""


def _state(quota: Quota, ahead: float, retry: float) -> QuotaState:
    """``ahead``: how far the quota's TAT is ahead of now after the decision (µs)."""
    left = int((quota.window_us - ahead + EPSILON_US) // quota.interval_us)
    remaining = 0 if left < 0 else min(left, quota.limit)
    return QuotaState(quota, remaining, retry / 1e6, ahead / 1e6)


def evaluate_one(quota: Quota, stored: float | None, now: float) -> tuple[bool, float, QuotaState]:
    """:func:`evaluate` for one quota: the common case, inlined."""
    interval = quota.interval_us
    ahead = 0.0 if stored is None or stored < now else stored - now
    retry = ahead + interval - quota.window_us
    if retry <= EPSILON_US:
        ahead += interval
        left = int((quota.window_us - ahead + EPSILON_US) // interval)
        return True, now + ahead, QuotaState(quota, left if left > 0 else 0, 0.0, ahead / 1e6)
    return False, now + ahead, _state(quota, ahead, retry)


def evaluate(
    quotas: QuotaSet, stored: Sequence[float | None], now: float
) -> tuple[bool, list[float], tuple[QuotaState, ...]]:
    """Admit or refuse at ``now`` (µs), given each quota's stored TAT (``None``: none yet).

    Returns whether the request is admitted, the TATs to store if it is, and
    each quota's state after the decision.
    """
    items = quotas.quotas
    aheads = [0.0 if tat is None or tat < now else tat - now for tat in stored]
    allowed = True
    for quota, ahead in zip(items, aheads, strict=True):
        if ahead + quota.interval_us - quota.window_us > EPSILON_US:
            allowed = False
            break
    if allowed:
        charged = [ahead + quota.interval_us for quota, ahead in zip(items, aheads, strict=True)]
        states = tuple(
            _state(quota, ahead, 0.0) for quota, ahead in zip(items, charged, strict=True)
        )
        return True, [now + ahead for ahead in charged], states
    refused = []
    for quota, ahead in zip(items, aheads, strict=True):
        retry = ahead + quota.interval_us - quota.window_us
        refused.append(_state(quota, ahead, retry if retry > EPSILON_US else 0.0))
    return False, [], tuple(refused)
