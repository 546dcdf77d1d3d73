"""What a case hands back: a headline for the summary and its own tables and notes."""

from __future__ import annotations

from dataclasses import dataclass, field

MET, MISSED, REPORTED, SKIPPED, FAILED = "met", "MISSED", "reported", "skipped", "FAILED"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class CaseResult:
    key: str
    title: str
    target: str
    measured: str = ""  # one line for the summary table
    verdict: str = REPORTED
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verdict(ok: bool) -> str:
    return MET if ok else MISSED


MiB = 1024 * 1024


def mib(n: float) -> str:
    return f"{n / MiB:.1f} MiB"


def mb(n: float) -> str:
    """Decimal megabytes, the unit of the memory targets (100 MB = 100,000,000 bytes)."""
    return f"{n / 1e6:.1f} MB"
