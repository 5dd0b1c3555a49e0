"""The performance targets markets is held to, and how a run measures up to them."""

from __future__ import annotations

from dataclasses import dataclass

from harness.cpu import CpuResult
from harness.stats import Spread, paired_ratio
from harness.text import AT_LEAST, AT_MOST, DASH, TIMES

__all__ = ["BASELINES", "TARGETS", "Target", "cpu_ratio"]

BASELINES = {
    "list": ("handwritten", "litestar", "floor"),
    "get": ("handwritten", "litestar", "floor"),
    "live": ("fastapi", "floor"),
}
"""The variants each route's results are compared with."""


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    route: str
    baseline: str
    limit: float
    speedup: bool
    """True: markets must be ``limit`` times faster; False: at most ``limit`` times the CPU."""

    @property
    def max_cpu_ratio(self) -> float:
        """The target as the largest CPU ratio markets ÷ baseline that meets it."""
        return 1 / self.limit if self.speedup else self.limit

    def met(self, ratio: Spread) -> bool:
        return ratio.median <= self.max_cpu_ratio

    def shown(self, ratio: Spread) -> str:
        """The measured value in the target's own terms, with its range."""
        if self.speedup:
            low, high = 1 / ratio.high, 1 / ratio.low
            return f"{1 / ratio.median:.2f}{TIMES} faster ({low:.2f}{DASH}{high:.2f})"
        return f"{ratio.median:.2f}{TIMES} the CPU ({ratio.low:.2f}{DASH}{ratio.high:.2f})"


TARGETS = (
    Target(
        f"list {AT_LEAST} 2.0{TIMES} faster than hand-written FastAPI + ORM",
        "list",
        "handwritten",
        2.0,
        True,
    ),
    Target(
        f"list {AT_LEAST} 2.0{TIMES} faster than Litestar + advanced-alchemy",
        "list",
        "litestar",
        2.0,
        True,
    ),
    Target(f"list CPU {AT_MOST} 1.5{TIMES} the bare-driver floor", "list", "floor", 1.5, False),
    Target(
        f"get {AT_LEAST} 1.5{TIMES} faster than hand-written FastAPI + ORM",
        "get",
        "handwritten",
        1.5,
        True,
    ),
    Target(
        f"trivial route, full middleware, {AT_MOST} 1.2{TIMES} bare FastAPI",
        "live",
        "fastapi",
        1.2,
        False,
    ),
)


def cpu_ratio(result: CpuResult, route: str, variant: str, baseline: str) -> Spread | None:
    """CPU of ``variant`` ÷ CPU of ``baseline``, paired by repetition; None if not measured."""
    numerator = result.samples.get((route, variant))
    denominator = result.samples.get((route, baseline))
    if not numerator or not denominator:
        return None
    return paired_ratio(numerator, denominator)
