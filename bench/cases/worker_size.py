"""Worker size and start: wasm raw and gzip of each built Worker; cold start of the convert Worker
in workerd (Miniflare start to the first GET /health answer). Reported, no target."""

from __future__ import annotations

import gzip

from lib import sides
from lib.context import Context
from lib.result import CaseResult, Table, mib
from lib.stats import Summary


def run(ctx: Context) -> CaseResult:
    sizes = []
    for wasm in sorted(ctx.root.glob("crates/*/build/index_bg.wasm")):
        raw = wasm.read_bytes()
        js = wasm.with_name("index.js").stat().st_size
        sizes.append([f"`{wasm.parent.parent.name}`", f"{mib(len(raw))} ({len(raw):,} B)", f"{mib(len(gzip.compress(raw, 9)))}", f"{js / 1024:.1f} KiB"])
    starts = Summary.of([sides.worker_convert(ctx, None, "cold").seconds * 1000 for _ in range(ctx.sizes.cold_starts)])
    convert = next((r for r in sizes if r[0] == "`convert`"), None)
    return CaseResult(
        key="worker_size",
        title="Worker size and cold start",
        target="reported",
        measured=(f"convert: {convert[1].split(' (')[0]} wasm, {convert[2]} gzip; " if convert else "")
        + f"cold start {starts.median:.0f} ms",
        tables=[
            Table(["Worker", "wasm", "wasm, gzip -9", "JS glue (index.js)"], sizes, caption="Build output of `scripts/build-workers` (crates/<name>/build)."),
            Table(
                ["", "milliseconds"],
                [["convert Worker cold start: Miniflare start -> first `GET /health` answer", starts.fmt(" ms", 0)]],
                caption=f"{ctx.sizes.cold_starts} starts, each a fresh Miniflare.",
            ),
        ],
        notes=[
            "Cold start covers starting workerd with the convert Worker plus the harness's two small "
            "helper Workers (dead-letter spy, R2 loader), compiling the wasm and the first request; "
            "Cloudflare's own cold start (startup limit 1 s) is not measured here.",
        ],
    )
