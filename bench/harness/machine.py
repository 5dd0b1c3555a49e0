"""The machine and the code a run measured, for the report's header."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.variants import ROOT

__all__ = ["Machine", "describe_machine"]


@dataclass(frozen=True, slots=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    commit: str
    load_average: tuple[float, float, float]


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _commit() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{head} (with uncommitted changes)" if git("status", "--porcelain") else head


def describe_machine() -> Machine:
    memory_kib = _first("/proc/meminfo", "MemTotal").split()[0]
    return Machine(
        cpu=_first("/proc/cpuinfo", "model name"),
        cores=os.cpu_count() or 0,
        memory_gib=int(memory_kib) / 2**20 if memory_kib.isdigit() else 0.0,
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        commit=_commit(),
        load_average=os.getloadavg(),
    )
