"""Quotas and their notation: ``"100/minute"``, ``"10/second;100/minute"``.

A *policy* is a name routes and settings refer to (``default``, ``auth``); it
holds one or more *quotas*, each a number of requests per window of whole
seconds. Every quota is limited on its own, and each has a name of its own
because the ``RateLimit`` header fields and the ``violated-policies`` member
refer to quotas by name: the policy's name when it has one quota, the policy's
name and the window (``default-1s``, ``default-60s``) when it has several.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["MIN_INTERVAL_US", "Quota", "RateSpec", "parse_rates", "quotas_of"]

MIN_INTERVAL_US = 10.0
"""The shortest spacing between two requests a quota may ask for (100,000 per second)."""

RateSpec = str | Sequence[str]
"""``"10/second;100/minute"`` (``;`` or ``,`` between rates) or a list of single rates."""

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*")
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}


@dataclass(frozen=True, slots=True)
class Quota:
    """``limit`` requests per ``window`` seconds, under ``name``.

    Limited by GCRA: a request may come every ``window / limit`` seconds, and
    up to ``limit`` of them at once after a quiet ``window``.
    """

    name: str
    limit: int
    window: int
    window_us: int = field(init=False, repr=False, compare=False)
    interval_us: float = field(init=False, repr=False, compare=False)
    state_prefix: str = field(init=False, repr=False, compare=False)
    """The ``RateLimit`` list member up to its ``r`` value: ``"name";r=``."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(
                f"quota name {self.name!r}: use 1 to 64 of A-Z a-z 0-9 _ . - "
                "(it is sent in response headers)"
            )
        if self.limit < 1 or self.window < 1:
            raise ValueError(f"quota {self.name!r}: limit and window must be at least 1")
        window_us = self.window * 1_000_000
        interval_us = window_us / self.limit
        if interval_us < MIN_INTERVAL_US:
            raise ValueError(
                f"quota {self.name!r}: {self.limit} per {self.window}s is more than "
                "100,000 requests per second"
            )
        object.__setattr__(self, "window_us", window_us)
        object.__setattr__(self, "interval_us", interval_us)
        object.__setattr__(self, "state_prefix", f'"{self.name}";r=')

    @property
    def policy_item(self) -> str:
        """This quota as a ``RateLimit-Policy`` list member."""
        return f'"{self.name}";q={self.limit};w={self.window}'


def _parse_one(text: str) -> tuple[int, int]:
    match = _RATE.fullmatch(text.lower())
    unit = _UNITS.get(match.group(3)) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"rate {text.strip()!r}: write COUNT/PERIOD, e.g. '100/minute', '10/second', "
            "'20/30 seconds' (units: second, minute, hour, day)"
        )
    count, multiple = int(match.group(1)), int(match.group(2) or 1)
    return count, multiple * unit


def parse_rates(spec: RateSpec) -> list[tuple[int, int]]:
    """``(limit, window seconds)`` of each rate in ``spec``; ``ValueError`` says what is wrong."""
    parts = re.split(r"[;,]", spec) if isinstance(spec, str) else list(spec)
    rates = [_parse_one(part) for part in parts if part.strip()]
    if not rates:
        raise ValueError("a rate limit needs at least one rate, e.g. '100/minute'")
    windows = [window for _, window in rates]
    if len(set(windows)) != len(windows):
        raise ValueError(f"rates {spec!r}: two rates share a window; keep the stricter one")
    return rates


def quotas_of(policy: str, spec: RateSpec) -> tuple[Quota, ...]:
    """The quotas of the policy named ``policy``, from its notation."""
    rates = parse_rates(spec)
    if len(rates) == 1:
        limit, window = rates[0]
        return (Quota(policy, limit, window),)
    return tuple(Quota(f"{policy}-{window}s", limit, window) for limit, window in rates)
