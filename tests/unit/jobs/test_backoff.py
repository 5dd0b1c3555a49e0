from __future__ import annotations

from random import Random

import pytest

from tiered.errors import ConfigurationError
from tiered.jobs import Backoff


def test_the_wait_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=2, factor=2, cap=30, jitter=False)
    waits = [backoff.delay(attempt, Random(0)) for attempt in range(1, 7)]
    assert waits == [2, 4, 8, 16, 30, 30]


def test_a_huge_attempt_number_waits_the_cap() -> None:
    assert Backoff(base=1, cap=600).nominal(100_000) == 600


def test_jitter_stays_in_the_upper_half_and_varies() -> None:
    backoff = Backoff(base=10, factor=3, cap=1000)
    random = Random(42)
    for attempt in range(1, 6):
        nominal = backoff.nominal(attempt)
        waits = {backoff.delay(attempt, random) for _ in range(50)}
        assert all(nominal / 2 <= wait <= nominal for wait in waits)
        assert len(waits) > 1


def test_the_same_seed_gives_the_same_waits() -> None:
    backoff = Backoff()
    assert [backoff.delay(3, Random(5)) for _ in range(2)] == [backoff.delay(3, Random(5))] * 2


@pytest.mark.parametrize(
    "arguments", [{"base": -1}, {"factor": 0.5}, {"base": 10, "cap": 5}], ids=str
)
def test_nonsense_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        Backoff(**arguments)  # type: ignore[arg-type]
