"""commit latency as history grows: one small file into a table that already has 1, 100, 1000
snapshots. icepipe convert vs a PyIceberg append; target: icepipe at 1000 within 1.5x of at 1.

Each tool's history is made by the tool itself (icepipe's snapshots carry its exactly-once ledger,
which a commit consults), one snapshot per small file; the two histories grow side by side."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lib import data, sides, stack
from lib.context import Context
from lib.log import log
from lib.result import CaseResult, Table, verdict
from lib.stats import Summary, interleave

TARGET_GROWTH = 1.5
FILE_ROWS = 1000


def _grow_icepipe(ctx: Context, table: str, files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        sides.icepipe_convert(ctx, table, [f], FILE_ROWS)
    return time.perf_counter() - start


def _grow_peer(ctx: Context, table: str, files: list[Path]) -> float:
    # One process, one append (snapshot) per file: the same history as len(files) separate runs.
    start = time.perf_counter()
    if files:
        sides.pyiceberg_append(ctx, table, files, FILE_ROWS * len(files), per_file=True)
    return time.perf_counter() - start


def run(ctx: Context) -> CaseResult:
    levels, pairs = ctx.sizes.latency_levels, ctx.sizes.pairs
    history = data.many(ctx, max(levels), FILE_ROWS)  # one file per history snapshot
    probes = data.many(ctx, len(levels) * pairs * 2, FILE_ROWS, first_seed=50_000)
    ice_t, peer_t = ctx.ident("commit_latency", "icepipe"), ctx.ident("commit_latency", "pyiceberg")
    used = {ice_t: 0, peer_t: 0}  # history files each table got so far
    probe_iter = iter(probes)
    by_level = {}
    growth_rows = []  # building the histories: a by-product worth reporting
    for level in levels:
        # Grow both tables to `level` snapshots (the measured commits of lower levels count too).
        need = {t: max(0, level - (stack.snapshot_count(t) if used[t] else 0)) for t in used}
        log(f"commit_latency: growing histories to {level} snapshots ({need[ice_t]} icepipe, {need[peer_t]} PyIceberg commits)")
        with ThreadPoolExecutor(2) as pool:
            jobs = [
                pool.submit(_grow_icepipe, ctx, ice_t, history[used[ice_t] : used[ice_t] + need[ice_t]]),
                pool.submit(_grow_peer, ctx, peer_t, history[used[peer_t] : used[peer_t] + need[peer_t]]),
            ]
            took = [j.result() for j in jobs]
        growth_rows.append([f"to {level}", f"{need[ice_t]} runs in {took[0]:.1f} s", f"{need[peer_t]} appends in {took[1]:.1f} s"])
        for t in used:
            used[t] += need[t]
        before = (stack.snapshot_count(ice_t), stack.snapshot_count(peer_t))

        def a(i: int) -> sides.Sample:
            return sides.icepipe_convert(ctx, ice_t, [next(probe_iter)], FILE_ROWS)

        def b(i: int) -> sides.Sample:
            return sides.pyiceberg_append(ctx, peer_t, [next(probe_iter)], FILE_ROWS)

        by_level[level] = (before, interleave(pairs, a, b, label=f"commit_latency at {level}"))

    lo, hi = levels[0], levels[-1]
    growth = {
        side: Summary.of([by_level[hi][1][i][side].seconds / by_level[lo][1][i][side].seconds for i in range(pairs)])
        for side in (0, 1)
    }
    rows = []
    for level, ((ice_before, peer_before), pr) in by_level.items():
        ice = Summary.of([x.seconds for x, _ in pr])
        peer = Summary.of([y.seconds for _, y in pr])
        commit = Summary.of([x.detail.get("timings_ms", {}).get("commit", 0) / 1000 for x, _ in pr])
        peer_work = Summary.of([y.detail["work_seconds"] for _, y in pr])
        ratio = Summary.of([y.seconds / x.seconds for x, y in pr])
        rows.append([
            f"{level} ({ice_before}-{ice_before + pairs - 1} / {peer_before}-{peer_before + pairs - 1})",
            ice.fmt(" s", 3),
            commit.fmt(" s", 3),
            peer.fmt(" s", 3),
            peer_work.fmt(" s", 3),
            ratio.fmt("x"),
        ])
    g = growth[0]
    return CaseResult(
        key="commit_latency",
        title="commit latency as history grows",
        target=f"icepipe at {hi} snapshots within {TARGET_GROWTH:g}x of at {lo}",
        measured=f"icepipe {g.median:.2f}x ({g.low:.2f}-{g.high:.2f}) from {lo} to {hi}; PyIceberg {growth[1].median:.2f}x",
        verdict=verdict(g.median <= TARGET_GROWTH),
        tables=[
            Table(
                ["snapshots before (actual: icepipe / PyIceberg)", "`icepipe convert` s", "its commit step", "PyIceberg append s", "PyIceberg work after imports", "PyIceberg / icepipe"],
                rows,
                caption=f"One new {FILE_ROWS:,}-row file per commit; histories of {FILE_ROWS:,}-row files, one snapshot each.",
            ),
            Table(
                ["side", f"time at {hi} / time at {lo} (per pair)"],
                [["`icepipe convert`", f"**{g.fmt('x')}**"], ["PyIceberg append", growth[1].fmt("x")]],
            ),
            Table(
                ["building the histories (the two run side by side)", "icepipe: separate `icepipe convert` runs", "PyIceberg: appends in one process"],
                growth_rows,
            ),
        ],
        notes=["Process times; PyIceberg's include interpreter start and imports (the work column leaves them out)."],
    )
