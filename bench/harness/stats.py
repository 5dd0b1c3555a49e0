"""Medians, spreads and paired ratios over interleaved repetitions."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, median

__all__ = ["Spread", "batch_mean_us", "paired_ratio", "spread"]


@dataclass(frozen=True, slots=True)
class Spread:
    """A median with the lowest and highest of the values it summarises."""

    median: float
    low: float
    high: float
    n: int

    def scaled(self, factor: float) -> Spread:
        return Spread(self.median * factor, self.low * factor, self.high * factor, self.n)


def spread(values: list[float]) -> Spread:
    if not values:
        raise ValueError("no values")
    return Spread(median(values), min(values), max(values), len(values))


def paired_ratio(numerator: list[float], denominator: list[float]) -> Spread:
    """Ratios of values taken in the same repetition, summarised.

    Pairing cancels what drifts between repetitions (another process waking
    up, the CPU's clock) because both sides of a ratio ran back to back.
    """
    if len(numerator) != len(denominator):
        raise ValueError("unpaired repetitions")
    return spread([a / b for a, b in zip(numerator, denominator, strict=True)])


def batch_mean_us(times_ns: list[int]) -> float:
    """CPU per request of one batch: its mean, so rare slow requests (GC) are paid for."""
    return fmean(times_ns) / 1000
