"""Circuit-breaker contract: memory and Redis open, reject, probe and close alike."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest
from tests.contract.resilience.conftest import POLICY, Breakers

from tiered.resilience import (
    Admission,
    BreakerPolicy,
    BreakerState,
    Transition,
    Verdict,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def _token() -> str:
    return uuid.uuid4().hex


async def _acquire(
    breakers: Breakers, name: str = "dep", policy: BreakerPolicy = POLICY
) -> Admission:
    return await breakers.backend.acquire(name, policy, _token())


async def _calls(breakers: Breakers, outcomes: str, name: str = "dep") -> list[Transition | None]:
    """Admit and record one call per letter: ``F`` failed, ``S`` succeeded."""
    transitions = []
    for letter in outcomes:
        admission = await _acquire(breakers, name)
        assert admission.verdict is Verdict.CALL, (outcomes, admission)
        _, transition = await breakers.backend.record(name, POLICY, admission, failed=letter == "F")
        transitions.append(transition)
    return transitions


async def _open(breakers: Breakers, name: str = "dep") -> None:
    transitions = await _calls(breakers, "FFFF", name)
    assert transitions[-1] == Transition(CLOSED, OPEN)


async def test_a_new_breaker_is_closed_and_empty(breakers: Breakers) -> None:
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.generation, snapshot.calls, snapshot.failures) == (
        CLOSED,
        0,
        0,
        0,
    )
    admission = await _acquire(breakers)
    assert (admission.verdict, admission.state, admission.transition) == (
        Verdict.CALL,
        CLOSED,
        None,
    )


async def test_below_the_minimum_of_calls_it_never_opens(breakers: Breakers) -> None:
    assert await _calls(breakers, "FFF") == [None, None, None]
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.calls, snapshot.failures) == (CLOSED, 3, 3)


async def test_it_opens_when_the_failure_rate_is_reached(breakers: Breakers) -> None:
    transitions = await _calls(breakers, "FSSF")
    assert transitions == [None, None, None, Transition(CLOSED, OPEN)]
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.generation, snapshot.retry_after) == (OPEN, 1, 30.0)


async def test_a_lower_failure_rate_keeps_it_closed(breakers: Breakers) -> None:
    assert set(await _calls(breakers, "SSSFSSFSSSFS")) == {None}
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.calls, snapshot.failures) == (CLOSED, 12, 3)


async def test_only_a_failure_opens_it(breakers: Breakers) -> None:
    assert await _calls(breakers, "FFFS") == [None, None, None, None]
    assert await _calls(breakers, "F") == [Transition(CLOSED, OPEN)]


async def test_calls_older_than_the_window_no_longer_count(breakers: Breakers) -> None:
    await _calls(breakers, "FFF")
    breakers.clock.advance(POLICY.window)
    assert await _calls(breakers, "F") == [None]
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.calls, snapshot.failures) == (CLOSED, 1, 1)


async def test_calls_within_the_window_still_count(breakers: Breakers) -> None:
    await _calls(breakers, "FFF")
    breakers.clock.advance(POLICY.window * (POLICY.buckets - 1) / POLICY.buckets - 1)
    assert await _calls(breakers, "F") == [Transition(CLOSED, OPEN)]


async def test_open_rejects_until_the_recovery_time(breakers: Breakers) -> None:
    await _open(breakers)
    rejected = await _acquire(breakers)
    assert (rejected.verdict, rejected.state, rejected.retry_after) == (Verdict.REJECT, OPEN, 30.0)
    breakers.clock.advance(29.5)
    later = await _acquire(breakers)
    assert (later.verdict, later.retry_after) == (Verdict.REJECT, 0.5)


async def test_after_the_recovery_time_exactly_one_probe_goes_through(breakers: Breakers) -> None:
    await _open(breakers)
    breakers.clock.advance(30)
    probe = await _acquire(breakers)
    assert (probe.verdict, probe.state) == (Verdict.PROBE, HALF_OPEN)
    assert probe.transition == Transition(OPEN, HALF_OPEN)
    assert probe.lease
    breakers.clock.advance(4)
    other = await _acquire(breakers)
    assert (other.verdict, other.state, other.transition) == (Verdict.REJECT, HALF_OPEN, None)
    assert other.retry_after == POLICY.probe_lease - 4


async def test_a_successful_probe_closes_it_with_an_empty_window(breakers: Breakers) -> None:
    await _open(breakers)
    breakers.clock.advance(30)
    probe = await _acquire(breakers)
    state, transition = await breakers.backend.record("dep", POLICY, probe, failed=False)
    assert (state, transition) == (CLOSED, Transition(HALF_OPEN, CLOSED))
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.generation, snapshot.calls) == (CLOSED, 3, 0)
    assert await _calls(breakers, "FFF") == [None, None, None]


async def test_a_failed_probe_opens_it_for_another_recovery_time(breakers: Breakers) -> None:
    await _open(breakers)
    breakers.clock.advance(30)
    probe = await _acquire(breakers)
    breakers.clock.advance(2)
    state, transition = await breakers.backend.record("dep", POLICY, probe, failed=True)
    assert (state, transition) == (OPEN, Transition(HALF_OPEN, OPEN))
    rejected = await _acquire(breakers)
    assert (rejected.verdict, rejected.retry_after) == (Verdict.REJECT, 30.0)


async def test_an_expired_lease_lets_a_new_probe_and_ignores_the_old_one(
    breakers: Breakers,
) -> None:
    await _open(breakers)
    breakers.clock.advance(30)
    first = await _acquire(breakers)
    breakers.clock.advance(POLICY.probe_lease)
    second = await _acquire(breakers)
    assert (second.verdict, second.transition) == (Verdict.PROBE, None)
    assert second.lease != first.lease
    assert await breakers.backend.record("dep", POLICY, first, failed=True) == (HALF_OPEN, None)
    state, transition = await breakers.backend.record("dep", POLICY, second, failed=False)
    assert (state, transition) == (CLOSED, Transition(HALF_OPEN, CLOSED))


async def test_a_call_from_an_older_generation_is_ignored(breakers: Breakers) -> None:
    slow = await _acquire(breakers)
    await _open(breakers)
    breakers.clock.advance(30)
    probe = await _acquire(breakers)
    await breakers.backend.record("dep", POLICY, probe, failed=False)
    assert await breakers.backend.record("dep", POLICY, slow, failed=True) == (CLOSED, None)
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.calls, snapshot.failures) == (0, 0)


async def test_a_released_probe_lease_lets_the_next_call_probe(breakers: Breakers) -> None:
    await _open(breakers)
    breakers.clock.advance(30)
    probe = await _acquire(breakers)
    await breakers.backend.release("dep", probe)
    again = await _acquire(breakers)
    assert (again.verdict, again.state) == (Verdict.PROBE, HALF_OPEN)
    assert await breakers.backend.record("dep", POLICY, probe, failed=True) == (HALF_OPEN, None)


async def test_reset_closes_an_open_breaker(breakers: Breakers) -> None:
    await _open(breakers)
    await breakers.backend.reset("dep")
    snapshot = await breakers.backend.snapshot("dep", POLICY)
    assert (snapshot.state, snapshot.calls) == (CLOSED, 0)
    assert (await _acquire(breakers)).verdict is Verdict.CALL


async def test_breakers_of_other_names_are_independent(breakers: Breakers) -> None:
    await _open(breakers, "mail")
    assert (await _acquire(breakers, "payments")).verdict is Verdict.CALL
    assert (await _acquire(breakers, "mail")).verdict is Verdict.REJECT


@pytest.mark.parametrize("rate", [0.25, 1.0])
async def test_the_failure_rate_is_the_policy_s(breakers: Breakers, rate: float) -> None:
    policy = replace(POLICY, failure_rate=rate)
    opened_after = None
    for number, failed in enumerate([True, False, False, False, True, True, True, True], 1):
        admission = await _acquire(breakers, policy=policy)
        if admission.verdict is not Verdict.CALL:
            break
        _, transition = await breakers.backend.record("dep", policy, admission, failed=failed)
        if transition is not None:
            opened_after = number
            break
    assert opened_after == (5 if rate == 0.25 else None)


async def test_concurrent_callers_in_half_open_get_one_probe(breakers: Breakers) -> None:
    await _open(breakers)
    breakers.clock.advance(30)
    admissions = await asyncio.gather(*(_acquire(breakers) for _ in range(40)))
    verdicts = [admission.verdict for admission in admissions]
    assert verdicts.count(Verdict.PROBE) == 1
    assert verdicts.count(Verdict.REJECT) == 39
    assert sum(admission.transition is not None for admission in admissions) == 1


async def test_concurrent_failures_open_it_once(breakers: Breakers) -> None:
    admissions = [await _acquire(breakers) for _ in range(20)]
    outcomes = await asyncio.gather(
        *(
            breakers.backend.record("dep", POLICY, admission, failed=True)
            for admission in admissions
        )
    )
    transitions = [transition for _, transition in outcomes if transition is not None]
    assert transitions == [Transition(CLOSED, OPEN)]
