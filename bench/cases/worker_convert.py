"""convert inside workerd: the convert Worker in Miniflare vs `icepipe convert` native restricted to
one encoding thread (`ICEPIPE_ENCODE_THREADS=1`), same file: a Worker has one thread, so this
compares the same work, and the ratio is what wasm and workerd cost."""

from __future__ import annotations

from lib import data, sides, stack
from lib.context import Context
from lib.result import CaseResult, Table, mib, verdict
from lib.stats import Summary, interleave, ratios

TARGET_SLOWDOWN = 1.5
ONE_THREAD = {"ICEPIPE_ENCODE_THREADS": "1"}


def run(ctx: Context) -> CaseResult:
    rows = ctx.sizes.convert_rows
    f = data.generated(ctx, rows)
    size = f.stat().st_size

    def a(i: int) -> sides.Sample:
        s = sides.worker_convert(ctx, f, f"worker_convert_{i}", rows)
        stack.purge(s.detail["table"], size)
        return s

    b = sides.in_fresh_tables(ctx, "worker_convert", "native", lambda t: sides.icepipe_convert(ctx, t, [f], rows, env=ONE_THREAD), size)

    pairs = interleave(ctx.sizes.pairs, a, b, label="worker_convert")
    slowdown = ratios([(y.seconds, x.seconds) for x, y in pairs])
    worker = Summary.of([x.seconds for x, _ in pairs])
    native = Summary.of([y.seconds for _, y in pairs])
    steps = ["connect", "head", "load", "probe", "write", "commit"]
    step_rows = []
    for k in steps:
        w = Summary.of([x.detail["batch"]["timings_ms"].get(k, 0) / 1000 for x, _ in pairs])
        n = [y.detail.get("timings_ms", {}).get(k) for _, y in pairs]
        step_rows.append([k, w.fmt(" s", 3), Summary.of([v / 1000 for v in n]).fmt(" s", 3) if None not in n else "-"])
    return CaseResult(
        key="worker_convert",
        title="convert inside workerd: the convert Worker vs native",
        target=f"the Worker at most {TARGET_SLOWDOWN:g}x slower than `icepipe convert` native on one thread",
        measured=f"{slowdown.median:.2f}x slower ({slowdown.low:.2f}-{slowdown.high:.2f})",
        verdict=verdict(slowdown.median <= TARGET_SLOWDOWN),
        tables=[
            Table(
                ["side", "seconds", "rows/s (median)"],
                [
                    ["convert Worker in workerd (notification -> batch line)", worker.fmt(" s"), f"{rows / worker.median:,.0f}"],
                    ["`icepipe convert` native, one encoding thread (process)", native.fmt(" s"), f"{rows / native.median:,.0f}"],
                    ["**slowdown** (Worker / native, per pair)", f"**{slowdown.fmt('x')}**", ""],
                ],
                caption=f"Input: the convert case's file, {rows:,} rows, {mib(size)}.",
            ),
            Table(["step (timings_ms)", "Worker", "native"], step_rows),
        ],
        notes=[
            "The Worker reads the raw object from Miniflare's local R2 (put before the clock starts) and "
            "writes the table through the S3 API of the stack (`TABLE_STORAGE = \"s3\"`); native reads the "
            "local file. Both commit through the same REST catalog. Native runs with `ICEPIPE_ENCODE_THREADS=1` "
            "(the Worker's single-threaded encoding path); the convert case measures it on every core.",
            f"Worker wasm memory high-water mark: {mib(Summary.of([x.detail['wasm_memory_bytes'] for x, _ in pairs]).high)} (max over runs).",
        ],
    )
