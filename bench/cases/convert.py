"""convert: one raw file into a fresh day-partitioned table, end to end incl. the commit.
icepipe convert vs PyIceberg (pq.read_table + table.append)."""

from __future__ import annotations

from lib import data, sides
from lib.context import Context
from lib.result import CaseResult, Table, mib, verdict
from lib.stats import Summary, interleave, ratios

TARGET_SPEEDUP = 3.0


def run(ctx: Context) -> CaseResult:
    rows = ctx.sizes.convert_rows
    f = data.generated(ctx, rows)
    size = f.stat().st_size

    a = sides.in_fresh_tables(ctx, "convert", "icepipe", lambda t: sides.icepipe_convert(ctx, t, [f], rows), size)
    b = sides.in_fresh_tables(ctx, "convert", "pyiceberg", lambda t: sides.pyiceberg_append(ctx, t, [f], rows), size)

    pairs = interleave(ctx.sizes.pairs, a, b, label="convert")
    speedup = ratios([(x.seconds, y.seconds) for x, y in pairs])
    work = ratios([(x.seconds, y.detail["work_seconds"]) for x, y in pairs])
    ice = Summary.of([x.seconds for x, _ in pairs])
    peer = Summary.of([y.seconds for _, y in pairs])
    peer_work = Summary.of([y.detail["work_seconds"] for _, y in pairs])
    steps = {k: Summary.of([x.detail.get("timings_ms", {}).get(k, 0) / 1000 for x, _ in pairs]) for k in ("load", "probe", "write", "commit")}
    return CaseResult(
        key="convert",
        title="convert: raw Parquet into a day-partitioned table",
        target=f"icepipe at least {TARGET_SPEEDUP:g}x faster than PyIceberg",
        measured=f"{speedup.median:.2f}x faster ({speedup.low:.2f}-{speedup.high:.2f})",
        verdict=verdict(speedup.median >= TARGET_SPEEDUP),
        tables=[
            Table(
                ["side", "seconds", "rows/s (median)", "peak RSS (median)"],
                [
                    ["`icepipe convert`", ice.fmt(" s"), f"{rows / ice.median:,.0f}", mib(Summary.of([x.peak_rss_bytes for x, _ in pairs]).median)],
                    ["PyIceberg `pq.read_table` + `table.append`", peer.fmt(" s"), f"{rows / peer.median:,.0f}", mib(Summary.of([y.peak_rss_bytes for _, y in pairs]).median)],
                    ["PyIceberg, work after imports", peer_work.fmt(" s"), f"{rows / peer_work.median:,.0f}", ""],
                    ["**speedup** (PyIceberg / icepipe, per pair)", f"**{speedup.fmt('x')}**", "", ""],
                    ["speedup vs PyIceberg's work only", work.fmt("x"), "", ""],
                ],
                caption=f"Input: {rows:,} rows, {mib(size)} (`icepipe generate --rows {rows} --seed 1`), 12 columns.",
            ),
            Table(
                ["icepipe step (its --json timings_ms)", "seconds"],
                [[k, v.fmt(" s", 3)] for k, v in steps.items()],
            ),
        ],
        notes=[
            "Both sides add `_loaded_at` (timestamptz) and `_load_id`, create the table partitioned by "
            "day(_loaded_at) and commit one snapshot with one data file; each run writes a fresh table.",
        ],
    )
