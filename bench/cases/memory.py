"""memory: peak memory converting a 100 MB and a 1 GB raw file. Native: peak RSS of `icepipe
convert`; Worker: the wasm memory high-water mark it logs per batch; peer: peak RSS of PyIceberg.
Targets, in issue 14's words: native under 100 MB and flat (1 GB within 10% of 100 MB); the
Worker under 96 MB on both (its growth is reported, not judged)."""

from __future__ import annotations

from lib import data, sides, stack
from lib.context import Context
from lib.result import CaseResult, Table, mb, verdict
from lib.stats import Summary, interleave

LIMIT_BYTES = 100_000_000
WORKER_LIMIT_BYTES = 96_000_000
FLAT_WITHIN = 0.10


def _measure(ctx: Context, label: str, rows: int) -> dict[str, list[sides.Sample]]:
    f = data.generated(ctx, rows)
    size = f.stat().st_size
    slug = label.replace(" ", "").lower()

    native = sides.in_fresh_tables(ctx, "memory", f"native_{slug}", lambda t: sides.icepipe_convert(ctx, t, [f], rows), size)

    def worker(i: int) -> sides.Sample:
        s = sides.worker_convert(ctx, f, f"memory_{slug}_{i}", rows)
        stack.purge(s.detail["table"], size)
        return s

    peer = sides.in_fresh_tables(ctx, "memory", f"pyiceberg_{slug}", lambda t: sides.pyiceberg_append(ctx, t, [f], rows), size)

    rounds = interleave(ctx.sizes.memory_pairs, native, worker, peer, label=f"memory {label}")
    return {"size": size, "native": [r[0] for r in rounds], "worker": [r[1] for r in rounds], "peer": [r[2] for r in rounds]}


def run(ctx: Context) -> CaseResult:
    (small_label, small_rows), (big_label, big_rows) = ctx.sizes.memory_rows
    small = _measure(ctx, small_label, small_rows)
    big = _measure(ctx, big_label, big_rows)

    def peak(samples: list[sides.Sample], side: str) -> Summary:
        return Summary.of([float(s.detail["wasm_memory_bytes"] if side == "worker" else s.peak_rss_bytes) for s in samples])

    def secs(samples: list[sides.Sample]) -> str:
        return Summary.of([s.seconds for s in samples]).fmt(" s", 1)

    rows, ok, measured = [], True, []
    for side, name, judged in [
        ("native", "`icepipe convert` peak RSS", True),
        ("worker", "convert Worker wasm memory high-water", True),
        ("peer", "PyIceberg peak RSS", False),
    ]:
        p_small, p_big = peak(small[side], side), peak(big[side], side)
        growth = p_big.high / p_small.low - 1  # worst case of the ranges
        if side == "worker":
            side_ok = max(p_big.high, p_small.high) < WORKER_LIMIT_BYTES
        else:
            side_ok = p_big.high < LIMIT_BYTES and p_small.high < LIMIT_BYTES and growth <= FLAT_WITHIN
        if judged:
            ok &= side_ok
            measured.append(f"{side} {mb(p_small.median)} -> {mb(p_big.median)}")
        rows.append([
            name,
            f"{mb(p_small.median)} ({mb(p_small.low)}-{mb(p_small.high)})",
            f"{mb(p_big.median)} ({mb(p_big.low)}-{mb(p_big.high)})",
            f"{growth * 100:+.0f}%",
            ("yes" if side_ok else "**no**") if judged else "(peer)",
            f"{secs(small[side])} / {secs(big[side])}",
        ])
    return CaseResult(
        key="memory",
        title="memory: 100 MB and 1 GB raw files",
        target="native peak RSS under 100 MB and flat (1 GB within 10% of 100 MB); the Worker's wasm memory under 96 MB on both",
        measured="; ".join(measured),
        verdict=verdict(ok),
        tables=[
            Table(
                ["side", f"peak, {small_label} file", f"peak, {big_label} file", "growth (worst case)", "target met (native: under 100 MB and flat; Worker: under 96 MB)", "seconds (small / big)"],
                rows,
                caption=(
                    f"{ctx.sizes.memory_pairs} rounds (native, Worker, PyIceberg in turn) per file; "
                    f"inputs: {small_rows:,} rows ({mb(small['size'])}) and {big_rows:,} rows ({mb(big['size'])}); "
                    "MB = 10^6 bytes. Growth compares the highest peak on the big file with the lowest on the small one."
                ),
            )
        ],
        notes=[
            "The Worker's number is the wasm linear memory high-water mark (what counts against the "
            "128 MB isolate limit); workerd's own process RSS is not included. Worker seconds run "
            "from the notification to the batch line.",
        ],
    )
