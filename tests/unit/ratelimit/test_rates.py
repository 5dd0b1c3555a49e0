"""Rate notation: what parses, what it means, and what is refused with a clear message."""

from __future__ import annotations

import pytest

from tiered.ratelimit import Quota, parse_rates, quotas_of


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100/minute", [(100, 60)]),
        ("10/second", [(10, 1)]),
        ("1000/hour", [(1000, 3600)]),
        ("5/day", [(5, 86400)]),
        ("20/30 seconds", [(20, 30)]),
        ("20/30s", [(20, 30)]),
        ("3/15m", [(3, 900)]),
        (" 10 / Second ; 100/MINUTE ", [(10, 1), (100, 60)]),
        ("10/s,100/min", [(10, 1), (100, 60)]),
        (["10/second", "100/minute"], [(10, 1), (100, 60)]),
    ],
)
def test_rates_parse(spec: str | list[str], expected: list[tuple[int, int]]) -> None:
    assert parse_rates(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "at least one rate"),
        ("100", "COUNT/PERIOD"),
        ("100/fortnight", "COUNT/PERIOD"),
        ("-1/minute", "COUNT/PERIOD"),
        ("1.5/minute", "COUNT/PERIOD"),
        ("10/minute;20/60s", "share a window"),
    ],
)
def test_bad_rates_say_what_to_write(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rates(spec)


@pytest.mark.parametrize("spec", ["0/minute", "10/0 seconds", "200000/second"])
def test_impossible_quotas_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="quota 'p'"):
        quotas_of("p", spec)


def test_one_rate_keeps_the_policy_name_several_are_named_by_window() -> None:
    assert [q.name for q in quotas_of("default", "100/minute")] == ["default"]
    assert [q.name for q in quotas_of("api", "10/second;1000/hour")] == ["api-1s", "api-3600s"]


@pytest.mark.parametrize("name", ["", 'a"b', "a b", "x" * 65, "naïve", "a,b", "a;b"])
def test_names_that_would_break_the_header_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="quota name"):
        Quota(name, 10, 60)


def test_a_quota_renders_its_policy_member_and_interval() -> None:
    quota = Quota("auth", 10, 60)
    assert quota.policy_item == '"auth";q=10;w=60'
    assert quota.interval_us == 6_000_000
    assert quota.window_us == 60_000_000
