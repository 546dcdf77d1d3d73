"""Sustained load through the convert Worker (issue 8): small files arriving for minutes into one
table, against R2's documented limits and, side by side, against the same catalog without them."""

from __future__ import annotations

import json

from lib import data, measure, stack
from lib.context import Context
from lib.result import CaseResult, Table, verdict

DRIVER_NAME = "sustained.mjs"
MAX_COMMITS_PER_MINUTE = 12  # COMMIT_INTERVAL_SECONDS = 5
MIN_THROUGHPUT_RATIO = 0.8
MAX_P95_FRESHNESS_S = 30


def one_run(ctx: Context, rules: str, files: list[str]) -> dict:
    namespace = f"{ctx.namespace}_sust_{rules}"
    cmd = ["node", str(ctx.root / "bench" / DRIVER_NAME), "--namespace-root", namespace, "--files", ",".join(files),
           "--seconds", str(ctx.sizes.sustained_seconds), "--rules", rules]
    r = measure.run(cmd, env=ctx.env, cwd=str(ctx.root), timeout=ctx.sizes.sustained_seconds + 3600)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    expected = len(files) * ctx.sizes.small_file_rows
    if out["rows"] != expected:
        raise measure.CommandFailed(f"sustained ({rules}): {out['rows']} rows in {out['table']}, expected {expected}")
    stack.purge_namespace_tree(namespace)
    return out


def run(ctx: Context) -> CaseResult:
    f = data.generated(ctx, ctx.sizes.small_file_rows)
    files = [str(f)] * ctx.sizes.sustained_files  # one key each: s-0, s-1, ...
    on = one_run(ctx, "on", files)
    off = one_run(ctx, "off", files)
    ratio = on["files_per_minute"] / off["files_per_minute"]
    p95_s = on["freshness_ms"]["p95"] / 1000

    def row(label: str, o: dict) -> list[str]:
        fr = o["freshness_ms"]
        return [label, f"{o['files_per_minute']:,.0f}", str(o["commits"]), str(o["max_commits_in_a_minute"]),
                f"{fr['p50'] / 1000:.1f} s / {fr['p95'] / 1000:.1f} s", str(o.get("rate_limited", "-")),
                str(o.get("lost_races", "-")), str(o["batches"])]

    ok = ratio >= MIN_THROUGHPUT_RATIO and on["max_commits_in_a_minute"] <= MAX_COMMITS_PER_MINUTE and p95_s < MAX_P95_FRESHNESS_S
    arrival = ctx.sizes.sustained_files / ctx.sizes.sustained_seconds * 60
    return CaseResult(
        key="sustained",
        title="sustained load: small files into one table through the convert Worker",
        target=(f"throughput with R2's limits at least {MIN_THROUGHPUT_RATIO}x of without, at most "
                f"{MAX_COMMITS_PER_MINUTE} commits a minute, p95 freshness under {MAX_P95_FRESHNESS_S} s"),
        measured=(f"{ratio:.2f}x throughput, {on['max_commits_in_a_minute']} commits in the busiest minute, "
                  f"p95 freshness {p95_s:.1f} s"),
        verdict=verdict(ok),
        tables=[
            Table(
                ["catalog", "files/min", "commits", "most commits in a minute", "freshness p50 / p95",
                 "429s", "lost races", "batches"],
                [row("R2 rules layer (documented limits)", on), row("SeaweedFS, no rules layer", off)],
                caption=(f"{ctx.sizes.sustained_files:,} files of {ctx.sizes.small_file_rows:,} rows put into R2 and notified "
                         f"at an even {arrival:,.0f} a minute for {ctx.sizes.sustained_seconds} s; files/min = files / "
                         "(last commit - first put)."),
            )
        ],
        notes=[
            "Freshness: the commit time of the first snapshot that makes a file's rows visible (the i-th file put "
            "counts once the table holds i+1 files' rows) minus the moment its put into R2 completed (one machine, one clock). One coordinator per table commits everything handed over since its last "
            "commit, at most every COMMIT_INTERVAL_SECONDS (5): the pace, not the catalog, bounds freshness while "
            "conversion keeps up with arrivals; when files/min falls below the arrival rate, conversion (CPU) is the bound.",
            f"Commit requests (rules on): {on.get('commit_requests')}; table loads: {on.get('loads')}.",
        ],
    )
