"""BENCHMARKS.md: header (machine, versions, date, command), a summary, one section per case, and
the analysis of missed targets kept by hand in bench/analysis.md (profiles are not re-run here)."""

from __future__ import annotations

import time
from pathlib import Path

from lib.result import CaseResult, Table

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis.md"


def _table(t: Table) -> str:
    lines = []
    if t.caption:
        lines += [t.caption, ""]
    lines.append("| " + " | ".join(t.headers) + " |")
    lines.append("|" + "|".join("---" for _ in t.headers) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in t.rows]
    return "\n".join(lines)


def render(results: list[CaseResult], machine: list[tuple[str, str]], command: str, pairs: int, seconds: float) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M %Z')} in {seconds / 60:.0f} min. "
        "Every case generates its own data (`icepipe generate`, fixed seeds) and runs against the local "
        "stack (SeaweedFS Iceberg REST catalog + S3 on loopback).",
        "",
        f"Method: the two sides of a case run alternately (A B A B ..., {pairs} pairs; the memory case "
        "says its own number of rounds), each run a fresh "
        "process (Python peers include interpreter start and imports; `work` columns show the peer's time "
        "after its imports), each conversion into a fresh table. A ratio is computed per pair; "
        "tables show the median and, in parentheses, the min-max. Times are wall-clock seconds; peak RSS "
        "comes from `/usr/bin/time -v`.",
        "",
        "## Machine and versions",
        "",
        _table(Table(["", ""], [[k, v] for k, v in machine])),
        "",
        "## Summary",
        "",
        _table(Table(["case", "measured", "target", "verdict"], [[r.title, r.measured, r.target, r.verdict] for r in results])),
        "",
    ]
    for r in results:
        out += [f"## {r.title}", "", f"Target: {r.target}. Verdict: **{r.verdict}**.", ""]
        for t in r.tables:
            out += [_table(t), ""]
        out += [f"- {n}" for n in r.notes]
        if r.notes:
            out.append("")
    if ANALYSIS.exists():
        out += [ANALYSIS.read_text().rstrip(), ""]
    return "\n".join(out)
