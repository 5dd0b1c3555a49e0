"""``make bench-smoke``: every variant starts and answers 200 on each of its routes.

No timing: this keeps the benchmark runnable. On small databases seeded by
markets' own commands, every variant is served by uvicorn over loopback on
SQLite, and driven in process (the benchmark's worker) on PostgreSQL, or on
SQLite again when no PostgreSQL answers (under ``CI=true`` one must); each
time all variants must answer the same rows as markets. Everything starts at
once to keep the run short. Ends with a ``N passed, N failed`` line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack

from harness.checks import Answering, check_same_rows, first_market_id
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
from harness.variants import OUT, ROUTES, VARIANTS, production_secrets
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


def _launch(dataset: Dataset, *, database_only: bool) -> dict[str, Worker]:
    """Workers for every variant, or only those that read the database."""
    variants = [v for v in VARIANTS if not database_only or v.routes - {"live"}]
    secrets_ = production_secrets()
    environs = {v.key: v.environ(dataset.url, secrets_) for v in variants}
    return launch_workers(variants, environs, SMOKE / dataset.name.lower(), cpu=None)


def _answers(variant: Answering, path: str, query: str) -> None:
    answer = variant.fetch(path, query)
    if answer["status"] != 200:
        raise AssertionError(f"status {answer['status']}: {answer['body'][:300]}")


def _check(tally: Tally, dataset: Dataset, how: str, variants: Mapping[str, Answering]) -> None:
    market_id = first_market_id(variants["markets"])
    tally.check(
        f"{dataset.name} {how}: same rows in every variant", check_same_rows, variants, market_id
    )
    for key, variant in variants.items():
        for route in ROUTES:
            if route.key in variant.variant.routes:
                name = f"{dataset.name} {how}: {key} {route.url(market_id)}"
                tally.check(name, _answers, variant, *route.target(market_id))


def main() -> int:
    started = time.monotonic()
    SMOKE.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    base_url = postgres_url()
    with_postgres = postgres_reachable(base_url)
    if not with_postgres and os.environ.get("CI") == "true":
        tally.failed += 1
        print(f"FAILED PostgreSQL: nothing answers at {base_url} (CI needs it)")
    elif not with_postgres:
        print(f"skipped PostgreSQL: nothing answers at {base_url}")
    with ExitStack() as stack:
        sqlite = sqlite_dataset(SMOKE / "smoke.db")
        in_process = stack.enter_context(postgres_dataset(base_url)) if with_postgres else sqlite
        seed(list({sqlite.name: sqlite, in_process.name: in_process}.values()), SMOKE_SIZE)
        workers = _launch(in_process, database_only=in_process is not sqlite)
        stack.callback(stop_all, workers)
        servers = stack.enter_context(serving(sqlite, list(VARIANTS), SMOKE / "http", cpu=None))
        _check(tally, sqlite, "over HTTP", servers)
        wait_all(workers)
        _check(tally, in_process, "in process", workers)
    print(f"bench smoke in {time.monotonic() - started:.1f} s")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
