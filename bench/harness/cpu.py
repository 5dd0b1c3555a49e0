"""CPU per request, in process: every variant in its own pinned processes, batches interleaved.

The same code measures a few percent apart from one process to the next (where
its objects land in memory differs), so each variant runs in ``processes``
processes and the repetitions alternate between them: no ratio rests on one
process's luck.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from harness.checks import (
    check_cache,
    check_limits_on_redis,
    check_rate_limiting,
    check_same_rows,
    first_market_id,
)
from harness.dataset import Dataset
from harness.redis_traffic import RedisTraffic, measure_traffic
from harness.stats import batch_mean_us
from harness.variants import Route, Variant, production_secrets, redis_url, route
from harness.workers import Worker, start_workers, stop_all

__all__ = ["TRAFFIC_WINDOWS", "CpuPlan", "CpuResult", "measure_cpu"]

LIST_SIZES = (5, 50, 100)
TRAFFIC_REQUESTS, TRAFFIC_WINDOWS = 100, 5
"""Requests per window, and windows, when counting what a variant asks of Redis."""


@dataclass(frozen=True, slots=True)
class CpuPlan:
    reps: int
    processes: int
    """Processes per variant; repetition ``n`` runs in process ``n % processes``."""
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
    redis: dict[str, RedisTraffic] = field(default_factory=dict)
    """variant → what it asks of Redis per request, on its first measured route."""


def _count_statements(
    workers: dict[str, Worker], market_id: str
) -> dict[str, dict[str, list[str]]]:
    list_route, get_route = route("list"), route("get")
    counts: dict[str, dict[str, list[str]]] = {}
    for key, worker in workers.items():
        routes = worker.variant.routes
        if list_route.key in routes:
            for size in LIST_SIZES:
                statements = worker.count(list_route.path, f"limit={size}")
                counts.setdefault(key, {})[f"list?limit={size}"] = statements
        if get_route.key in routes:
            counts.setdefault(key, {})["get"] = worker.count(*get_route.target(market_id))
    return counts


def _redis_traffic(
    workers: dict[str, Worker], routes: list[Route], market_id: str
) -> dict[str, RedisTraffic]:
    traffic = {}
    for key, worker in workers.items():
        served = [item for item in routes if item.key in worker.variant.routes]
        if worker.variant.redis and served:
            path, query = served[0].target(market_id)
            traffic[key] = measure_traffic(
                redis_url(),
                partial(worker.run, path, query),
                requests=TRAFFIC_REQUESTS,
                windows=TRAFFIC_WINDOWS,
            )
    return traffic


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
    result = CpuResult(dataset.name, [item.key for item in routes])
    generations: list[dict[str, Worker]] = []
    try:
        for number in range(1, plan.processes + 1):
            log = log_dir / f"process-{number}"
            generations.append(start_workers(variants, environs, log, cpu))
        first = generations[0]
        market_id = result.market_id = first_market_id(first["markets"])
        for workers in generations:
            check_same_rows(workers, market_id)
            check_rate_limiting(workers)
            check_limits_on_redis(workers)
            check_cache(workers, market_id)
        result.statements = _count_statements(first, market_id)
        peer = next(key for key, worker in first.items() if not worker.variant.in_main_env)
        for key in ("markets", peer):
            result.versions[key] = first[key].versions()
        for workers in generations:
            for item in routes:
                for worker in workers.values():
                    if item.key in worker.variant.routes:
                        worker.run(*item.target(market_id), plan.warmup[item.key])
        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        for rep in range(plan.reps):
            workers = generations[rep % len(generations)]
            for item in routes:
                members = [key for key, w in workers.items() if item.key in w.variant.routes]
                shift = rep % len(members)
                for key in members[shift:] + members[:shift]:
                    times = workers[key].run(*item.target(market_id), plan.batch[item.key])
                    samples[(item.key, key)].append(batch_mean_us(times))
            progress(f"  {dataset.name} CPU repetition {rep + 1}/{plan.reps} done")
        result.samples = dict(samples)
        result.redis = _redis_traffic(first, routes, market_id)
    finally:
        for workers in generations:
            stop_all(workers)
    return result
