"""Where a markets request spends its CPU: py-spy samples of the in-process driver.

py-spy (from the bench environment) attaches to a warmed-up markets worker
while it serves a batch, and samples the thread that holds the GIL: the Python work.
(Without ``--gil`` py-spy also counts threads blocked on a lock or a queue
as busy, which buries the profile under the SQLite driver's waiting thread.)
Samples count when they are of a request: the main thread under the
driver's ``request`` frame, or any other stack (SQLAlchemy's greenlets and
the driver's threads work only for requests once the application runs).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.dataset import Dataset
from harness.variants import BENCH, PEERS_PYTHON, ROOT, Route, production_secrets, variant
from harness.workers import start_workers, stop_all

__all__ = ["Profile", "profile_markets"]

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")
_DRIVER = str(BENCH / "worker.py")
_PACKAGE = re.compile(r"/site-packages/(?P<package>[^/]+)/")


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    route: str
    by_package: list[tuple[str, float]]
    """Self time by package (share of request samples), standard library charged to its caller."""
    top_self: list[tuple[str, float]]
    top_inclusive: list[tuple[str, float]]
    rate: int
    requests: int


def _package(file: str) -> str:
    if "/src/tiered/" in file:
        return "tiered"
    if "/src/markets/" in file:
        return "markets"
    if file == _DRIVER:
        return "benchmark driver"
    match = _PACKAGE.search(file)
    if match:
        return match.group("package").removesuffix(".py")
    if "/lib/python3" in file:
        stdlib = file.rsplit("/lib/python3", 1)[1].split("/", 2)
        module = stdlib[1] if len(stdlib) > 1 else file
        return f"stdlib {module.removesuffix('.py')}"
    return "other"


def _owner(frames: list[tuple[str, str]]) -> str:
    """The innermost package on the stack that is not the standard library.

    ``uuid.UUID()`` called by SQLAlchemy's result processing is SQLAlchemy's
    cost; only when no package is on the stack does the standard library own it.
    """
    for _, file in reversed(frames):
        package = _package(file)
        if not package.startswith("stdlib"):
            return package
    return _package(frames[-1][1])


def _short(function: str, file: str) -> str:
    for root in (str(ROOT / "src") + "/", str(ROOT / "examples/markets/src") + "/"):
        if file.startswith(root):
            return f"{function} ({file.removeprefix(root)})"
    match = _PACKAGE.search(file)
    if match:
        return f"{function} ({file[match.start() + len('/site-packages/') :]})"
    return f"{function} ({Path(file).name})"


def _parse(raw: str) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((match.group("function"), match.group("file")))
        stacks.append((frames, int(count)))
    return stacks


def _serving(frames: list[tuple[str, str]]) -> bool:
    if frames[0] != ("<module>", _DRIVER):
        return True
    return any(function == "request" and file == _DRIVER for function, file in frames)


def summarise(raw: str, *, route: str, rate: int, requests: int, top: int = 15) -> Profile:
    packages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for frames, count in _parse(raw):
        if not frames or not _serving(frames):
            continue
        total += count
        function, file = frames[-1]
        packages[_owner(frames)] += count
        own[_short(function, file)] += count
        seen = {_short(f, p) for f, p in frames if _package(p) in ("tiered", "markets")}
        for name in seen:
            inclusive[name] += count
    if not total:
        raise RuntimeError("the profile holds no sample of a request")

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, count / total) for name, count in counter.most_common(top)]

    return Profile(total, route, shares(packages), shares(own), shares(inclusive), rate, requests)


def profile_markets(
    dataset: Dataset, route: Route, market_id: str, out_dir: Path, *, requests: int, rate: int
) -> Profile:
    """Start a markets worker, warm it up, then sample it while it serves ``requests``."""
    markets = variant("markets")
    raw = out_dir / f"profile-markets-{route.key}.txt"
    raw.unlink(missing_ok=True)
    path, query = route.target(market_id)
    environs = {markets.key: markets.environ(dataset.url, production_secrets())}
    workers = start_workers([markets], environs, out_dir / "profile", cpu=0)
    try:
        worker = workers[markets.key]
        worker.run(path, query, max(requests // 5, 1))
        command = [str(PEERS_PYTHON.parent / "py-spy"), "record", "--gil", "--rate", str(rate)]
        command += ["--format", "raw", "--nolineno", "--full-filenames", "--output", str(raw)]
        command += ["--pid", str(worker.process.pid)]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)  # py-spy attaches
            worker.run(path, query, requests)
        finally:
            spy.send_signal(signal.SIGINT)
            _, errors = spy.communicate(timeout=60)
        if not raw.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')}")
    finally:
        stop_all(workers)
    return summarise(raw.read_text(), route=route.label, rate=rate, requests=requests)
