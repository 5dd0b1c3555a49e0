"""``make bench``: markets against its peers, CPU per request and HTTP, into RESULTS.md.

Runs on SQLite first, then on a fresh PostgreSQL database (skipped, with a
note, when none answers). The variant whose rate limits are on Redis needs
the bench's Redis database (``BENCH_REDIS_URL``, else the test suites' server
with database 14); it is left out, with a note, when nothing answers there.
Pins itself to core 1, the workers and servers it measures to core 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from harness.chart import draw_chart
from harness.cpu import CpuPlan, CpuResult, measure_cpu
from harness.dataset import (
    BENCH_SIZE,
    Dataset,
    postgres_dataset,
    postgres_reachable,
    postgres_url,
    seed,
    sqlite_dataset,
)
from harness.http_load import HttpPlan, load_available, measure_http
from harness.machine import describe_machine
from harness.profile import profile_markets
from harness.redis_traffic import delete_keys, redis_reachable, redis_version
from harness.report import BenchRun, render
from harness.text import DASH
from harness.variants import BENCH, OUT, RATE_LIMIT_KEYS, ROUTES, VARIANTS, Variant, redis_url

FULL = CpuPlan(
    reps=10,
    processes=2,
    batch={"list": 90, "get": 220, "live": 1500, "meta": 1000},
    warmup={"list": 100, "get": 200, "live": 1000, "meta": 500},
)
QUICK = CpuPlan(
    reps=2,
    processes=1,
    batch={"list": 20, "get": 40, "live": 200, "meta": 200},
    warmup={"list": 10, "get": 20, "live": 100, "meta": 100},
)


def _log(message: str) -> None:
    print(message, flush=True)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run to try the pipeline")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--http-reps", type=int, default=5)
    parser.add_argument("--http-seconds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    return parser.parse_args()


def _measure(
    run: BenchRun,
    dataset: Dataset,
    variants: list[Variant],
    routes: list[str],
    *,
    http: HttpPlan | None,
    logs: Path,
) -> CpuResult:
    chosen = [route for route in ROUTES if route.key in routes]
    members = [v for v in variants if v.routes & set(routes)]
    _log(f"{dataset.name}: CPU per request ({', '.join(v.key for v in members)})")
    cpu = measure_cpu(dataset, members, chosen, run.cpu_plan, logs, progress=_log)
    run.cpu.append(cpu)
    if http is not None:
        _log(f"{dataset.name}: HTTP")
        served = [v for v in members if v.over_http]
        compared = [r for r in chosen if sum(r.key in v.routes for v in served) > 1]
        run.http.append(
            measure_http(
                dataset,
                served,
                compared,
                http,
                market_id=cpu.market_id,
                log_dir=logs,
                progress=_log,
            )
        )
    return cpu


def _available_variants(run: BenchRun) -> list[Variant]:
    """Every variant, less the Redis one when no Redis answers; its stale keys deleted."""
    redis = redis_url()
    if not redis_reachable(redis):
        run.notes.append(f"Redis did not answer at {redis}: the Redis limiter was not measured.")
        return [v for v in VARIANTS if not v.redis]
    delete_keys(redis, RATE_LIMIT_KEYS)
    run.redis = f"`{redis}`, Redis {redis_version(redis)}"
    run.notes.append(
        "Redis's own CPU is not in the in-process numbers; the client's side of each round"
        " trip (the socket calls, and the loopback's kernel work they trigger) is."
    )
    return list(VARIANTS)


def _raw(run: BenchRun) -> dict[str, object]:
    """Every sample, for anyone who wants to look again (``bench/out/results.json``)."""
    return {
        "cpu": [
            {
                "dataset": result.dataset,
                "market_id": result.market_id,
                "samples_us": {f"{r}/{v}": values for (r, v), values in result.samples.items()},
                "statements": result.statements,
                "redis": {key: dataclasses.asdict(one) for key, one in result.redis.items()},
            }
            for result in run.cpu
        ],
        "http": [
            {
                "dataset": result.dataset,
                "runs": {
                    f"{r}/{v}": [dataclasses.asdict(one) for one in runs]
                    for (r, v), runs in result.runs.items()
                },
            }
            for result in run.http
        ],
    }


def main() -> None:
    args = _parse()
    os.sched_setaffinity(0, {1})
    started = time.monotonic()
    plan = QUICK if args.quick else FULL
    http_plan = None
    if not args.no_http and load_available():
        http_plan = HttpPlan(
            reps=1 if args.quick else args.http_reps,
            seconds=1 if args.quick else args.http_seconds,
            warmup_seconds=1,
            connections=args.connections,
        )
    command = os.environ.get("BENCH_COMMAND") or " ".join(["python", *sys.argv])
    run = BenchRun(command, datetime.now(UTC), describe_machine(), plan, http_plan)
    if http_plan is None and not args.no_http:
        run.notes.append("wrk or taskset is missing: the HTTP measures were skipped.")
    OUT.mkdir(parents=True, exist_ok=True)
    variants = _available_variants(run)

    _log("SQLite: seeding")
    sqlite = sqlite_dataset(OUT / "bench.db")
    seed([sqlite], BENCH_SIZE)
    routes = ["list", "get", "live", "meta"]
    cpu = _measure(run, sqlite, variants, routes, http=http_plan, logs=OUT / "sqlite")
    if not args.no_profile:
        for route, requests in ((ROUTES[0], 600), (ROUTES[2], 6000)):
            _log(f"SQLite: profiling markets, {route.label}")
            run.profiles.append(
                profile_markets(
                    sqlite,
                    route,
                    cpu.market_id,
                    OUT,
                    requests=requests // 6 if args.quick else requests,
                    rate=500,
                )
            )

    base_url = postgres_url()
    if args.no_postgres:
        run.notes.append("PostgreSQL was not measured (--no-postgres).")
    elif not postgres_reachable(base_url):
        run.notes.append(f"PostgreSQL did not answer at {base_url}: not measured.")
    else:
        _log("PostgreSQL: creating and seeding a database")
        with postgres_dataset(base_url) as postgres:
            seed([postgres], BENCH_SIZE)
            logs = OUT / "postgres"
            routes = ["list", "get", "meta"]
            _measure(run, postgres, variants, routes, http=http_plan, logs=logs)
        run.notes.append(
            "On PostgreSQL, /health/live is not measured again (it reads no database);"
            " /api/v1 is, beside the list, since the Redis limiter's cost on a list request"
            " is measured there. The database server's own CPU is not in the in-process"
            " numbers; over HTTP it shares the machine's two cores with the server and wrk."
        )
    if http_plan is not None:
        run.notes.append(
            "Over HTTP only markets as deployed and its peers are measured; the variations of"
            " markets are compared in process, where the ratios are steadier."
        )

    run.notes.append(
        "CPU time on a shared virtual machine is noisy: identical requests differ by tens of"
        " percent within one batch, more while other processes run. Ratios are taken between"
        " batches run back to back and are steadier than the absolute µs; read the min"
        f"{DASH}max ranges, not only the medians. Load average at the end:"
        f" {' / '.join(f'{x:.2f}' for x in os.getloadavg())}."
    )
    chart = args.output.with_name("results.png")
    draw_chart(run.cpu, chart)
    run.chart = chart.name
    run.elapsed_seconds = time.monotonic() - started
    args.output.write_text(render(run))
    (OUT / "results.json").write_text(json.dumps(_raw(run), indent=1))
    _log(f"wrote {args.output} and {chart} in {run.elapsed_seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
