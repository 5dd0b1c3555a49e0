"""``make bench-smoke``: every variant starts and answers 200 on each of its routes.

No timing: this keeps the benchmark runnable. On small databases seeded by
markets' own commands, every variant is served by uvicorn over loopback on
SQLite, and driven in process (the benchmark's worker) on PostgreSQL, or on
SQLite again when no PostgreSQL answers (under ``CI=true`` one must); each
time all variants must answer the same rows as markets, and markets'
variations must be what they claim (limited or not, cached or not, limited
on Redis). The Redis variant needs the bench's Redis database; when none
answers it is skipped, unless ``CI=true``. Everything starts at once to keep
the run short. Ends with a ``N passed, N failed`` line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack

from harness.checks import (
    Answering,
    check_cache,
    check_limits_on_redis,
    check_rate_limiting,
    check_same_rows,
    first_market_id,
)
from harness.dataset import (
    SMOKE_SIZE,
    Dataset,
    postgres_dataset,
    postgres_reachable,
    postgres_url,
    seed,
    sqlite_dataset,
)
from harness.http_load import serving
from harness.redis_traffic import delete_keys, redis_reachable
from harness.variants import (
    OUT,
    RATE_LIMIT_KEYS,
    ROUTES,
    VARIANTS,
    Variant,
    production_secrets,
    redis_url,
    route,
)
from harness.workers import Worker, launch_workers, stop_all, wait_all

SMOKE = OUT / "smoke"


class Tally:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, test: Callable[..., object], *args: object) -> None:
        try:
            test(*args)
        except Exception as error:
            self.failed += 1
            print(f"FAILED {name}: {error}", flush=True)
        else:
            self.passed += 1
            print(f"ok     {name}", flush=True)


def _launch(variants: list[Variant], dataset: Dataset, *, database_only: bool) -> dict[str, Worker]:
    """Workers for every variant, or only those that read the database."""
    if database_only:
        variants = [v for v in variants if any(route(r).uses_database for r in v.routes)]
    secrets_ = production_secrets()
    environs = {v.key: v.environ(dataset.url, secrets_) for v in variants}
    return launch_workers(variants, environs, SMOKE / dataset.name.lower(), cpu=None)


def _answers(variant: Answering, path: str, query: str) -> None:
    answer = variant.fetch(path, query)
    if answer["status"] != 200:
        raise AssertionError(f"status {answer['status']}: {answer['body'][:300]}")


def _check(tally: Tally, dataset: Dataset, how: str, variants: Mapping[str, Answering]) -> None:
    market_id = first_market_id(variants["markets"])
    name = f"{dataset.name} {how}"
    tally.check(f"{name}: same rows in every variant", check_same_rows, variants, market_id)
    tally.check(f"{name}: rate limiting as configured", check_rate_limiting, variants)
    if any(item.variant.redis for item in variants.values()):
        name_ = f"{name}: rate limits on Redis as configured"
        tally.check(name_, check_limits_on_redis, variants)
    for key, variant in variants.items():
        for item in ROUTES:
            if item.key in variant.variant.routes:
                name = f"{dataset.name} {how}: {key} {item.url(market_id)}"
                tally.check(name, _answers, variant, *item.target(market_id))


def _services(tally: Tally) -> tuple[bool, list[Variant]]:
    """Whether PostgreSQL answers, and the variants whose services answer."""
    needed = os.environ.get("CI") == "true"
    base_url, redis = postgres_url(), redis_url()
    with_postgres = postgres_reachable(base_url)
    with_redis = redis_reachable(redis)
    for name, url, up in (("PostgreSQL", base_url, with_postgres), ("Redis", redis, with_redis)):
        if not up and needed:
            tally.failed += 1
            print(f"FAILED {name}: nothing answers at {url} (CI needs it)")
        elif not up:
            print(f"skipped {name}: nothing answers at {url}")
    if with_redis:
        delete_keys(redis, RATE_LIMIT_KEYS)
    return with_postgres, [v for v in VARIANTS if with_redis or not v.redis]


def main() -> int:
    started = time.monotonic()
    SMOKE.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    with_postgres, variants = _services(tally)
    with ExitStack() as stack:
        sqlite = sqlite_dataset(SMOKE / "smoke.db")
        in_process = (
            stack.enter_context(postgres_dataset(postgres_url())) if with_postgres else sqlite
        )
        seed(list({sqlite.name: sqlite, in_process.name: in_process}.values()), SMOKE_SIZE)
        workers = _launch(variants, in_process, database_only=in_process is not sqlite)
        stack.callback(stop_all, workers)
        servers = stack.enter_context(serving(sqlite, variants, SMOKE / "http", cpu=None))
        _check(tally, sqlite, "over HTTP", servers)
        wait_all(workers)
        _check(tally, in_process, "in process", workers)
        market_id = first_market_id(workers["markets"])
        name = f"{in_process.name} in process: cache as configured"
        tally.check(name, check_cache, workers, market_id)
    print(f"bench smoke in {time.monotonic() - started:.1f} s")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
