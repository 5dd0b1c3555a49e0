"""``bench/RESULTS.md``: what ran, where, and what it measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

from harness.cpu import TRAFFIC_WINDOWS, CpuPlan, CpuResult
from harness.http_load import HttpPlan, HttpResult
from harness.machine import Machine
from harness.profile import Profile
from harness.stats import Spread, paired_ratio, spread
from harness.targets import BASELINES, ROUND_TRIPS, TARGETS, cpu_ratio
from harness.text import DASH, TIMES
from harness.variants import BENCH_QUOTA, ROUTES, VARIANTS, variant

__all__ = ["BenchRun", "render"]


@dataclass
class BenchRun:
    command: str
    started: datetime
    machine: Machine
    cpu_plan: CpuPlan
    http_plan: HttpPlan | None
    elapsed_seconds: float = 0.0
    cpu: list[CpuResult] = field(default_factory=list)
    http: list[HttpResult] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    chart: str | None = None
    notes: list[str] = field(default_factory=list)
    redis: str | None = None
    """The Redis the limiter variant used (URL and server version), when it was measured."""


_ROUTE_LABELS = {route.key: route.label for route in ROUTES}
_ORDER = [item.key for item in VARIANTS]


def _range(value: Spread, digits: int = 0) -> str:
    return f"{value.low:,.{digits}f}{DASH}{value.high:,.{digits}f}"


def _ratio(value: Spread | None) -> str:
    if value is None:
        return DASH
    return f"{value.median:.2f}{TIMES} ({value.low:.2f}{DASH}{value.high:.2f})"


def _processes(count: int) -> str:
    if count == 1:
        return "its own process pinned to core 0"
    return (
        f"{count} processes of its own, all pinned to core 0 (repetitions alternate between"
        " them: the same code measures a few percent apart from one process to the next)"
    )


def _header(run: BenchRun) -> list[str]:
    machine = run.machine
    lines = [
        "# Benchmark results",
        "",
        "Rewritten by `make bench`; do not edit by hand. markets (the reference service, on",
        "tiered) against a hand-written FastAPI + SQLAlchemy ORM app, Litestar + advanced-alchemy,",
        "bare FastAPI and the bare-driver floor, all reading the same rows, and against itself",
        "with its cache off, its rate limiting off, or its rate limits on Redis.",
        "",
        f"- **Command:** `{run.command}` ({run.elapsed_seconds / 60:.1f} min,"
        f" started {run.started:%Y-%m-%d %H:%M} UTC)",
        f"- **Machine:** {machine.cpu}, {machine.cores} cores, {machine.memory_gib:.0f} GiB,"
        f" {machine.kernel}; load average at start"
        f" {' / '.join(f'{x:.2f}' for x in machine.load_average)}",
        f"- **Code:** commit {machine.commit}; Python {machine.python}",
    ]
    if run.redis:
        lines.append(f"- **Redis:** {run.redis}")
    for result in run.cpu[:1]:
        for key, info in result.versions.items():
            env = "main `.venv` (markets)" if key == "markets" else "`bench/peers` env (peers)"
            packages = ", ".join(f"{name} {ver}" for name, ver in sorted(info["packages"].items()))
            lines.append(f"- **{env}:** Python {info['python']}; {packages}")
    plan = run.cpu_plan
    batches = ", ".join(f"{route} {n}" for route, n in plan.batch.items())
    lines += [
        f"- **CPU per request:** each variant in {_processes(plan.processes)}, requests"
        f" driven straight into the ASGI app (no socket); `time.process_time()` around each"
        f" request (all threads of the process); {plan.reps} interleaved repetitions, each a"
        f" batch per variant and route ({batches} requests), after a warm-up. A repetition's"
        f" value is its batch's mean; tables show the median over repetitions and the"
        f" min{DASH}max; ratios are computed per repetition (paired) and then summarised.",
    ]
    if run.http_plan is not None:
        http = run.http_plan
        lines.append(
            f"- **HTTP:** uvicorn (1 worker, uvloop, httptools, access log off) pinned to core 0,"
            f" wrk on core 1 (`wrk -t1 -c{http.connections} -d{http.seconds}s --latency`),"
            f" loopback; {http.reps} interleaved repetitions after a {http.warmup_seconds} s"
            f" warm-up per server and route."
        )
    quota = f"{int(BENCH_QUOTA.split('/')[0]):,} a {BENCH_QUOTA.split('/')[1]}"
    lines += [
        "- **markets** runs with `MARKETS_ENVIRONMENT=production` (fresh 48-character secrets),"
        " logging every request at INFO to a file, with its full middleware stack, its rate"
        " limiter and its cache as deployed by default: both in memory (no"
        " `MARKETS_REDIS_URL`, so `cache_backend=auto` is the memory backend), and"
        " `GET /api/v1/markets/{id}` is measured with the cache warm: every timed read is a"
        f" hit. Its default quota is raised to {quota} per client, since every request comes"
        " from one address; a decision costs the same whatever the numbers.",
        "- **Variations of markets**, each apart from it only in what one comparison needs,"
        " and measured only on the route that comparison reads: *cache off*"
        " (`MARKETS_CACHE_ENABLED=false`, on the get route); *rate limiting off*"
        " (`MARKETS_RATE_LIMIT_ENABLED=false`) and *rate limits on Redis* (`MARKETS_REDIS_URL`"
        " set, and the cache off so that every Redis command is the limiter's), both on"
        " `GET /api/v1`. That route is markets' own trivial route, which reads neither the"
        " database nor the cache; `/health/live` is exempt from rate limiting, so it cannot"
        " show the limiter's cost. Before timing, every variation is checked to be what it"
        " claims (rate-limit headers present or not, a second read of a market with or"
        " without SQL, `EVALSHA` calls on Redis).",
        "- **Data:** markets' own migrations and `seed-demo` (50 users, 2,000 markets, 1,000"
        " positions); lists are 50 visible markets, newest first, each with its creator.",
        "",
    ]
    return lines


def _targets(run: BenchRun) -> list[str]:
    names = [result.dataset for result in run.cpu]
    lines = [
        "## Targets (CPU per request, in process)",
        "",
        "| target | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for target in TARGETS:
        cells = []
        for result in run.cpu:
            ratio = target.ratio(result)
            if ratio is None:
                cells.append("not measured")
            else:
                verdict = "**met**" if target.met(ratio) else "**not met**"
                cells.append(f"{verdict}: {target.shown(ratio)}")
        lines.append(f"| {target.text} | " + " | ".join(cells) + " |")
    cells = []
    for result in run.cpu:
        traffic = result.redis.get(ROUND_TRIPS.variant)
        if traffic is None:
            cells.append("not measured")
        else:
            verdict = "**met**" if ROUND_TRIPS.met(traffic) else "**not met**"
            cells.append(f"{verdict}: {ROUND_TRIPS.shown(traffic)}")
    lines.append(f"| {ROUND_TRIPS.text} | " + " | ".join(cells) + " |")
    lines += _reasons(run)
    if run.chart:
        lines += ["", f"![markets CPU per request relative to its peers]({run.chart})"]
    lines.append("")
    return lines


def _reasons(run: BenchRun) -> list[str]:
    """Why each target this run missed is missed: no target is loosened silently."""
    missed = [
        target
        for target in TARGETS
        if any(
            (ratio := target.ratio(result)) is not None and not target.met(ratio)
            for result in run.cpu
        )
    ]
    if not missed:
        return []
    lines = ["", "**Targets not met, and why**", ""]
    for target in missed:
        reason = target.why or "No analysis recorded yet: see the profiles below."
        lines.append(f"- *{target.text}*: {reason}")
    return lines


def _redis_traffic(result: CpuResult) -> list[str]:
    if not result.redis:
        return []
    lines = [
        "Redis, counted by the server (`INFO`: network reads, `EVALSHA` calls, commands run)"
        f" over the quietest of {TRAFFIC_WINDOWS} windows, the bench's own `INFO` calls"
        " taken off:",
        "",
    ]
    for key, traffic in result.redis.items():
        lines.append(
            f"- {variant(key).label}: {traffic.round_trips:.2f} round trips,"
            f" {traffic.evalsha:.2f} `EVALSHA` and {traffic.commands:.2f} commands (those the"
            f" script runs included) per request, over {traffic.requests} requests."
        )
    return [*lines, ""]


def _cpu_tables(result: CpuResult) -> list[str]:
    lines = [f"## CPU per request, in process: {result.dataset}", ""]
    for route in result.routes:
        baselines = [b for b in BASELINES[route] if (route, b) in result.samples]
        members = [key for key in _ORDER if (route, key) in result.samples]
        lines += [
            f"**{_ROUTE_LABELS[route]}**",
            "",
            f"| variant | µs / request | min{DASH}max | "
            + " | ".join(f"÷ {variant(b).label}" for b in baselines)
            + " |",
            "|---|---:|---:|" + "---:|" * len(baselines),
        ]
        for key in members:
            values = spread(result.samples[(route, key)])
            ratios = [
                "1" if key == b else _ratio(cpu_ratio(result, route, key, b)) for b in baselines
            ]
            lines.append(
                f"| {variant(key).label} | {values.median:,.0f} | {_range(values)} | "
                + " | ".join(ratios)
                + " |"
            )
        lines.append("")
        if route == "meta":
            lines += _redis_traffic(result)
    return lines


def _http_tables(result: HttpResult) -> list[str]:
    lines = [
        f"## HTTP throughput and latency: {result.dataset}",
        "",
        "Ratios are throughput ÷ the baseline's, paired by repetition (higher is better).",
        "",
    ]
    for route in result.routes:
        baselines = [b for b in BASELINES[route] if (route, b) in result.runs]
        members = [key for key in _ORDER if (route, key) in result.runs]
        lines += [
            f"**{_ROUTE_LABELS[route]}**",
            "",
            f"| variant | req/s | min{DASH}max | p50 ms | p99 ms | errors | "
            + " | ".join(f"÷ {variant(b).label}" for b in baselines)
            + " |",
            "|---|---:|---:|---:|---:|---:|" + "---:|" * len(baselines),
        ]
        for key in members:
            runs = result.runs[(route, key)]
            rate = spread([run.requests_per_second for run in runs])
            ratios = []
            for b in baselines:
                other = result.runs.get((route, b))
                if key == b:
                    ratios.append("1")
                elif other is None:
                    ratios.append(DASH)
                else:
                    mine = [run.requests_per_second for run in runs]
                    theirs = [run.requests_per_second for run in other]
                    ratios.append(_ratio(paired_ratio(mine, theirs)))
            lines.append(
                f"| {variant(key).label} | {rate.median:,.0f} | {_range(rate)} |"
                f" {median(run.p50_ms for run in runs):.2f} |"
                f" {median(run.p99_ms for run in runs):.2f} |"
                f" {sum(run.errors for run in runs)} | " + " | ".join(ratios) + " |"
            )
        lines.append("")
    return lines


def _statements(results: list[CpuResult]) -> list[str]:
    lines = [
        "## SQL statements per request",
        "",
        "Counted from every engine's `before_cursor_execute` events, plus the pool's pre-ping"
        " on checkout (`pool_pre_ping`, a `SELECT 1` round trip that bypasses those events);"
        " the floor counts its own. Transaction control (BEGIN, COMMIT…) is not counted."
        " markets' `get` is a cache hit (no statement); with the cache off it reads the"
        " database.",
        "",
    ]
    for result in results:
        columns = sorted(
            {column for counts in result.statements.values() for column in counts},
            key=_column_order,
        )
        lines += [
            f"**{result.dataset}**",
            "",
            "| variant | " + " | ".join(f"`{c}`" for c in columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        for key in _ORDER:
            if key in result.statements:
                counted = result.statements[key]
                counts = [str(len(counted[c])) if c in counted else DASH for c in columns]
                lines.append(f"| {variant(key).label} | " + " | ".join(counts) + " |")
        lines.append("")
    if results:
        lines += [
            "<details><summary>The statements (SQLite, list at limit=50, and get)</summary>",
            "",
        ]
        for key in _ORDER:
            statements = results[0].statements.get(key, {})
            shown = statements.get("list?limit=50", []) + statements.get("get", [])
            if shown:
                lines += [f"{variant(key).label}:", "", "```sql"]
                lines += [f"{sql};" for sql in shown]
                lines += ["```", ""]
        lines += ["</details>", ""]
    return lines


def _column_order(column: str) -> tuple[int, int]:
    if column.startswith("list?limit="):
        return (0, int(column.removeprefix("list?limit=")))
    return (1, 0)


def _profile(profile: Profile) -> list[str]:
    lines = [
        f"## Where markets spends its CPU: {profile.route}",
        "",
        f"py-spy (`--gil`) at {profile.rate} Hz over {profile.requests:,} in-process requests"
        f" on SQLite: {profile.samples:,} samples of the thread holding the GIL while requests"
        " were served, i.e. the Python work; SQLite's own C work runs without the GIL and is"
        " not in them (the floor's CPU bounds it). Shares are of those samples. A package's"
        " self time includes the standard-library calls it makes.",
        "",
        "| package (self time) | share |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {share:.0%} |" for name, share in profile.by_package]
    lines += ["", "| function (self time) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {share:.1%} |" for name, share in profile.top_self]
    lines += ["", "| tiered / markets function (inclusive) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {share:.0%} |" for name, share in profile.top_inclusive]
    lines.append("")
    return lines


def render(run: BenchRun) -> str:
    lines = _header(run) + _targets(run)
    for result in run.cpu:
        lines += _cpu_tables(result)
    for http in run.http:
        lines += _http_tables(http)
    lines += _statements(run.cpu)
    for profile in run.profiles:
        lines += _profile(profile)
    if run.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in run.notes] + [""]
    return "\n".join(lines)
