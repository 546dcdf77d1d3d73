"""Runs one command and measures it: wall time, and peak RSS and CPU time through GNU time
(`/usr/bin/time -v`).

Every side of every case is a separate process, so the numbers include process start (and, for
Python peers, interpreter start and imports): what a user pays per run.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

GNU_TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_bytes: int
    stdout: str
    stderr: str
    cpu_seconds: float  # user + system, all threads


class CommandFailed(RuntimeError):
    pass


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 3600) -> Run:
    """Runs `cmd` under `/usr/bin/time -v`; raises CommandFailed (with its output) on a non-zero exit."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        start = time.perf_counter()
        p = subprocess.run(
            [GNU_TIME, "-v", "-o", t.name, *cmd],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - start
        report = t.read()
    if p.returncode != 0:
        raise CommandFailed(
            f"{' '.join(cmd)} exited {p.returncode}\n--- stdout ---\n{p.stdout[-4000:]}\n--- stderr ---\n{p.stderr[-4000:]}"
        )
    return Run(seconds, _peak_rss(report), p.stdout, p.stderr, _cpu_seconds(report))


def _peak_rss(report: str) -> int:
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if not m:
        raise CommandFailed(f"no peak RSS in GNU time's report:\n{report}")
    return int(m.group(1)) * 1024


def _cpu_seconds(report: str) -> float:
    times = re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", report)
    if len(times) != 2:
        raise CommandFailed(f"no user and system time in GNU time's report:\n{report}")
    return sum(map(float, times))


def file_size(path: str) -> int:
    return os.stat(path).st_size


def median_seconds(jobs: dict, rounds: int) -> dict[str, float]:
    """Median wall seconds of each job (a no-argument callable) over `rounds` runs, in this process."""
    out = {}
    for name, job in jobs.items():
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            job()
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out
