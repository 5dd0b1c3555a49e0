"""The PNG beside RESULTS.md: markets' CPU per request relative to each peer, and to itself
with a feature switched off."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter

from harness.cpu import CpuResult
from harness.targets import TARGETS, cpu_ratio
from harness.text import DASH
from harness.variants import variant

__all__ = ["draw_chart"]

_ROUTE_NAMES = {
    "list": "list",
    "get": "get by id",
    "live": "trivial route",
    "meta": "trivial limited route",
}
_PAIRS = (
    ("list", "markets", "handwritten"),
    ("list", "markets", "litestar"),
    ("list", "markets", "floor"),
    ("get", "markets", "handwritten"),
    ("get", "markets", "litestar"),
    ("get", "markets-nocache", "handwritten"),
    ("get", "markets", "markets-nocache"),
    ("live", "markets", "fastapi"),
    ("meta", "markets", "markets-nolimit"),
    ("meta", "markets-redis", "markets-nolimit"),
)
"""(route, subject, baseline): one row of bars each."""
_COLOURS = ("#4C72B0", "#DD8452", "#55A868")


def draw_chart(results: list[CpuResult], path: Path) -> None:
    pairs = [p for p in _PAIRS if any(cpu_ratio(r, *p) for r in results)]
    targets = {(t.route, t.subject, t.baseline): t for t in TARGETS}
    figure, axis = plt.subplots(figsize=(11, len(pairs) * 0.6 + 1.8), dpi=110)
    bar = 0.8 / max(len(results), 1)
    for row, (route, subject, baseline) in enumerate(pairs):
        target = targets.get((route, subject, baseline))
        for index, result in enumerate(results):
            ratio = cpu_ratio(result, route, subject, baseline)
            if ratio is None:
                continue
            y = row + (index - (len(results) - 1) / 2) * bar
            colour = _COLOURS[index % len(_COLOURS)]
            missed = target is not None and not target.met(ratio)
            axis.barh(
                y,
                ratio.median,
                height=bar * 0.9,
                color=colour,
                hatch="//" if missed else "",
                edgecolor="black" if missed else colour,
                xerr=[[ratio.median - ratio.low], [ratio.high - ratio.median]],
                capsize=3,
            )
            axis.text(ratio.high * 1.04, y, f"{ratio.median:.2f}", va="center", fontsize=8)
        if target is not None:
            limit = target.max_cpu_ratio
            axis.plot([limit, limit], [row - 0.45, row + 0.45], color="crimson", lw=2.5)
    axis.axvline(1.0, color="grey", lw=0.8, ls="--")
    labels = [f"{_ROUTE_NAMES[r]}: {variant(s).label} vs {variant(b).label}" for r, s, b in pairs]
    axis.set_yticks(range(len(pairs)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.set_xscale("log")
    ticks = [0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32]
    low, high = axis.get_xlim()
    shown = [tick for tick in ticks if low <= tick <= high] or [1]
    axis.set_xticks(shown, [f"{tick:g}" for tick in shown])
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel("CPU per request ÷ the baseline's (lower is better)")
    axis.set_title(
        f"markets vs peers and vs itself: CPU per request, in process (median, min{DASH}max)",
        fontsize=10,
    )
    handles: list[Patch | Line2D] = [
        Patch(color=_COLOURS[i % len(_COLOURS)], label=r.dataset) for i, r in enumerate(results)
    ]
    handles += [
        Line2D([], [], color="crimson", lw=2.5, label="target (at most)"),
        Patch(facecolor="white", edgecolor="black", hatch="//", label="target not met"),
    ]
    axis.legend(handles=handles, fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
