"""CPU per request, in process: every variant in its own pinned process, batches interleaved."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import check_same_rows, first_market_id
from harness.dataset import Dataset
from harness.stats import batch_mean_us
from harness.variants import ROUTES, Route, Variant, production_secrets
from harness.workers import Worker, start_workers, stop_all

__all__ = ["CpuPlan", "CpuResult", "measure_cpu"]

LIST_SIZES = (5, 50, 100)


@dataclass(frozen=True, slots=True)
class CpuPlan:
    reps: int
    batch: dict[str, int]
    """Requests per batch, by route: each batch is one sample of one variant."""
    warmup: dict[str, int]


@dataclass
class CpuResult:
    dataset: str
    routes: list[str]
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(route, variant) → the mean CPU µs per request of each repetition's batch."""
    statements: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """variant → {"list?limit=N" or "get": the statements of one such request}."""
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    market_id: str = ""
    """The market ``GET /api/v1/markets/{id}`` reads: the newest visible one."""


def _count_statements(
    workers: dict[str, Worker], market_id: str
) -> dict[str, dict[str, list[str]]]:
    list_route, get_route = ROUTES[0], ROUTES[1]
    counts: dict[str, dict[str, list[str]]] = {}
    for key, worker in workers.items():
        if list_route.key not in worker.variant.routes:
            continue
        counts[key] = {
            f"list?limit={size}": worker.count(list_route.path, f"limit={size}")
            for size in LIST_SIZES
        }
        counts[key]["get"] = worker.count(*get_route.target(market_id))
    return counts


def measure_cpu(
    dataset: Dataset,
    variants: list[Variant],
    routes: list[Route],
    plan: CpuPlan,
    log_dir: Path,
    *,
    cpu: int = 0,
    progress: Any = print,
) -> CpuResult:
    secrets_ = production_secrets()
    environs = {item.key: item.environ(dataset.url, secrets_) for item in variants}
    workers = start_workers(variants, environs, log_dir, cpu)
    result = CpuResult(dataset.name, [route.key for route in routes])
    try:
        market_id = result.market_id = first_market_id(workers["markets"])
        check_same_rows(workers, market_id)
        result.statements = _count_statements(workers, market_id)
        peer = next(key for key, worker in workers.items() if not worker.variant.in_main_env)
        for key in ("markets", peer):
            result.versions[key] = workers[key].versions()
        for route in routes:
            for worker in workers.values():
                if route.key in worker.variant.routes:
                    worker.run(*route.target(market_id), plan.warmup[route.key])
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        for rep in range(plan.reps):
            for route in routes:
                members = [key for key, w in workers.items() if route.key in w.variant.routes]
                shift = rep % len(members)
                for key in members[shift:] + members[:shift]:
                    times = workers[key].run(*route.target(market_id), plan.batch[route.key])
                    samples[(route.key, key)].append(batch_mean_us(times))
            progress(f"  {dataset.name} CPU repetition {rep + 1}/{plan.reps} done")
        result.samples = dict(samples)
    finally:
        stop_all(workers)
    return result
