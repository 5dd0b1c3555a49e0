"""``RetryPolicy``: which errors are retried, how long it waits, and what it refuses."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest
from structlog.testing import capture_logs

from tiered.clock import FrozenClock
from tiered.errors import ConfigurationError
from tiered.resilience import RetryPolicy, database_write, retry
from tiered.results import Err, Ok


class Sleeps:
    """The injected sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(
    times: int, error: Callable[[], Exception], value: str = "ok"
) -> Callable[[], Awaitable[str]]:
    """An async function that raises ``error()`` ``times`` times, then returns ``value``."""
    calls = 0

    async def function() -> str:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise error()
        return value

    function.calls = lambda: calls  # type: ignore[attr-defined]
    return function


def status_error(status: int, **headers: str) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://api.example/")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(str(status), request=request, response=response)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def policy(sleeps: Sleeps, **overrides: object) -> RetryPolicy:
    options: dict[str, object] = {
        "max_attempts": 4,
        "base_delay": 1.0,
        "max_delay": 5.0,
        "max_total_delay": 100.0,
        "sleep": sleeps,
        "rng": lambda: 0.5,
    }
    return RetryPolicy(**{**options, **overrides})  # type: ignore[arg-type]


async def test_a_transient_error_is_retried_until_it_succeeds(sleeps: Sleeps) -> None:
    function = failing(2, lambda: httpx.ConnectError("refused"))
    assert await policy(sleeps).call(function) == "ok"
    assert function.calls() == 3  # type: ignore[attr-defined]
    assert sleeps.waits == [0.5, 1.0]


async def test_a_permanent_error_is_raised_at_once(sleeps: Sleeps) -> None:
    function = failing(5, lambda: status_error(404))
    with pytest.raises(httpx.HTTPStatusError):
        await policy(sleeps).call(function)
    assert function.calls() == 1  # type: ignore[attr-defined]
    assert sleeps.waits == []


async def test_after_the_last_attempt_the_last_error_is_raised(sleeps: Sleeps) -> None:
    errors: list[Exception] = []

    def make() -> Exception:
        errors.append(TimeoutError(f"attempt {len(errors) + 1}"))
        return errors[-1]

    with pytest.raises(TimeoutError) as raised:
        await policy(sleeps, max_attempts=3).call(failing(10, make))
    assert raised.value is errors[-1]
    assert len(errors) == 3
    assert len(sleeps.waits) == 2


async def test_run_returns_the_outcome_instead_of_raising(sleeps: Sleeps) -> None:
    result = await policy(sleeps, max_attempts=2).run(failing(5, lambda: status_error(503)))
    assert result.attempts == 2
    assert not result.success
    assert isinstance(result.outcome, Err)
    assert isinstance(result.last_error, httpx.HTTPStatusError)
    assert result.outcome.error is result.last_error
    assert result.delays == (0.5,)


async def test_run_reports_the_failure_that_preceded_success(sleeps: Sleeps) -> None:
    result = await policy(sleeps).run(failing(1, lambda: ConnectionResetError("reset")))
    assert (result.attempts, result.success, result.outcome) == (2, True, Ok("ok"))
    assert isinstance(result.last_error, ConnectionResetError)
    clean = await policy(sleeps).run(failing(0, ValueError))
    assert (clean.attempts, clean.last_error, clean.delays) == (1, None, ())


async def test_run_still_raises_a_refused_function(sleeps: Sleeps) -> None:
    @database_write
    async def save() -> None: ...

    with pytest.raises(ConfigurationError):
        await policy(sleeps).run(save)


async def test_full_jitter_stays_within_the_exponential_ceiling(sleeps: Sleeps) -> None:
    draws = random.Random(7)
    jittered = policy(sleeps, max_attempts=8, rng=draws.random)
    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    for _ in range(50):
        sleeps.waits.clear()
        await jittered.run(failing(10, TimeoutError))
        assert len(sleeps.waits) == 7
        for wait, ceiling in zip(sleeps.waits, ceilings, strict=True):
            assert 0 <= wait <= ceiling
    assert policy(sleeps, rng=lambda: 0.999999).backoff(3) == pytest.approx(4.0, abs=1e-5)
    assert policy(sleeps, rng=lambda: 0.0).backoff(3) == 0.0
    assert policy(sleeps, rng=lambda: 1 - 1e-9).backoff(200) <= 5.0


async def test_a_retry_after_in_seconds_is_honoured_exactly(sleeps: Sleeps) -> None:
    function = failing(1, lambda: status_error(429, **{"Retry-After": "3"}))
    assert await policy(sleeps).call(function) == "ok"
    assert sleeps.waits == [3.0]


async def test_a_retry_after_date_is_honoured_from_the_clock(sleeps: Sleeps) -> None:
    clock = FrozenClock()
    when = format_datetime(clock.now() + timedelta(seconds=4), usegmt=True)
    function = failing(1, lambda: status_error(503, **{"Retry-After": when}))
    assert await policy(sleeps, clock=clock).call(function) == "ok"
    assert sleeps.waits == [4.0]


async def test_a_retry_after_is_capped_by_the_maximum_delay(sleeps: Sleeps) -> None:
    function = failing(1, lambda: status_error(429, **{"Retry-After": "3600"}))
    assert await policy(sleeps).call(function) == "ok"
    assert sleeps.waits == [5.0]


async def test_the_waits_never_add_up_past_the_total_budget(sleeps: Sleeps) -> None:
    function = failing(10, TimeoutError)
    result = await policy(sleeps, max_attempts=10, rng=lambda: 1.0, max_total_delay=10.0).run(
        function
    )
    assert sleeps.waits == [1.0, 2.0, 4.0]
    assert result.attempts == 4
    assert isinstance(result.last_error, TimeoutError)


async def test_a_cancellation_raised_by_the_call_is_not_retried(sleeps: Sleeps) -> None:
    function = failing(1, asyncio.CancelledError)
    with pytest.raises(asyncio.CancelledError):
        await policy(sleeps).run(function)
    assert function.calls() == 1  # type: ignore[attr-defined]
    assert sleeps.waits == []


async def test_a_cancelled_task_stops_retrying() -> None:
    sleeping = asyncio.Event()
    attempts = 0

    async def block(_seconds: float) -> None:
        sleeping.set()
        await asyncio.Event().wait()

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        raise TimeoutError

    task = asyncio.ensure_future(RetryPolicy(sleep=block).call(flaky))
    await sleeping.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts == 1


async def test_a_database_write_is_refused(sleeps: Sleeps) -> None:
    calls = 0

    @database_write
    async def save_position() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(ConfigurationError, match="save_position writes to the database"):
        await policy(sleeps).call(save_position)
    with pytest.raises(ConfigurationError):
        retry(policy(sleeps))(save_position)
    with pytest.raises(ConfigurationError):
        await policy(sleeps).call(functools.partial(save_position))
    assert calls == 0


async def test_a_marked_method_is_refused_through_its_instance(sleeps: Sleeps) -> None:
    class PositionService:
        @database_write
        async def buy(self) -> None: ...

    with pytest.raises(ConfigurationError):
        await policy(sleeps).call(PositionService().buy)


async def test_the_decorator_retries_every_call(sleeps: Sleeps) -> None:
    attempts: list[str] = []

    @retry(policy(sleeps))
    async def fetch(name: str) -> str:
        attempts.append(name)
        if len(attempts) % 2:
            raise httpx.ReadTimeout("slow")
        return name.upper()

    assert await fetch("a") == "A"
    assert await fetch("b") == "B"
    assert attempts == ["a", "a", "b", "b"]
    assert fetch.__name__ == "fetch"


async def test_concurrent_calls_keep_their_own_attempts() -> None:
    async def sleep(_seconds: float) -> None:
        await asyncio.sleep(0)

    shared = RetryPolicy(max_attempts=5, sleep=sleep, rng=lambda: 0.5)
    functions = [failing(index % 4, TimeoutError, value=str(index)) for index in range(24)]
    results = await asyncio.gather(*(shared.run(function) for function in functions))
    for index, result in enumerate(results):
        assert (result.attempts, result.outcome) == (index % 4 + 1, Ok(str(index)))
        assert len(result.delays) == index % 4


async def test_each_retry_is_logged(sleeps: Sleeps) -> None:
    with capture_logs() as logs:
        await policy(sleeps).call(failing(1, lambda: httpx.ConnectError("refused")))
    [line] = [log for log in logs if log["event"] == "retry_scheduled"]
    assert (line["attempt"], line["delay"], line["error_type"]) == (1, 0.5, "ConnectError")


@pytest.mark.parametrize(
    "options",
    [
        {"max_attempts": 0},
        {"base_delay": -1},
        {"base_delay": 10, "max_delay": 5},
        {"max_total_delay": -1},
    ],
)
def test_an_impossible_policy_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)  # type: ignore[arg-type]
