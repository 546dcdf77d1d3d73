"""Interleaved A/B runs and the ratio summary every case reports.

Running the two peers alternately (A B A B ...) spreads slow phases of a shared machine (another
build, page-cache churn) over both sides, and pairing each A with the B next to it makes the ratio
of a pair meaningful even when the absolute times drift.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable, TypeVar

from lib.log import log

T = TypeVar("T")


def interleave(pairs: int, *runs: Callable[[int], T], label: str = "") -> list[tuple[T, ...]]:
    """Runs A then B (then C ...), `pairs` times; returns [(a, b, ...), ...] in run order."""
    out = []
    for i in range(pairs):
        round_ = []
        for side, run in zip("ABCDEF", runs):
            log(f"{label} pair {i + 1}/{pairs}: {side}")
            round_.append(run(i))
        out.append(tuple(round_))
    return out


@dataclass(frozen=True)
class Summary:
    """Median and range of a list of numbers."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Summary":
        if not values:
            raise ValueError("no values to summarize")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def fmt(self, unit: str = "", digits: int = 2) -> str:
        """`1.23 (1.10-1.40)`: median, then the range."""
        f = f"{{:.{digits}f}}"
        return f"{f.format(self.median)}{unit} ({f.format(self.low)}-{f.format(self.high)})"


def ratios(pairs: list[tuple[float, float]]) -> Summary:
    """Summary of b/a over pairs (a, b): how many times b is a."""
    return Summary.of([b / a for a, b in pairs])
