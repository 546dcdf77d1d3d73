"""Memory per column: the convert Worker in workerd on raw files of growing width (issue 15)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lib import sides, stack
from lib.context import Context
from lib.log import log
from lib.result import CaseResult, Table, mb, mib, verdict

LIMIT = 128 * 1024 * 1024  # a Worker's memory (128 MB)
TARGET_COLUMNS = 2000


def wide_file(ctx: Context, columns: int, rows: int) -> Path:
    """A raw file of `columns` columns cycling int64/string/float64 (harness/gen_parquet.py, zstd,
    pyarrow's defaults: what a producer of a wide export writes)."""
    out = ctx.data_dir / f"wide-{columns}x{rows}.parquet"
    if not out.exists():
        log(f"generating {out.name}")
        spec = [{"out": str(out), "rows": rows, "id_start": 0, "kind": "wide", "columns": columns}]
        subprocess.run([ctx.python, str(ctx.root / "harness" / "gen_parquet.py")], input=json.dumps(spec), text=True, check=True, capture_output=True)
    return out


def run(ctx: Context) -> CaseResult:
    rows = ctx.sizes.wide_rows
    measured: list[tuple[int, int, int]] = []  # (columns, file bytes, wasm memory high-water)
    for columns in ctx.sizes.wide_columns:
        f = wide_file(ctx, columns, rows)
        # One run per width: a fresh Miniflare each time, and the high-water mark repeats run to run.
        s = sides.worker_convert(ctx, f, f"wide_{columns}", rows)
        stack.purge(s.detail["table"], f.stat().st_size)
        measured.append((columns, f.stat().st_size, int(s.detail["wasm_memory_bytes"])))
    narrow_cols, _, narrow_mem = measured[0]
    table_rows = []
    for columns, size, memory in measured:
        per_column = "-" if columns == narrow_cols else f"{(memory - narrow_mem) / (columns - narrow_cols) / 1024:.0f} KiB"
        table_rows.append([f"{columns:,}", mib(size), mb(memory), f"{memory / LIMIT:.0%}", per_column])
    at_target = [m for c, _, m in measured if c == TARGET_COLUMNS]
    ok = bool(at_target) and all(m < LIMIT for m in at_target)
    widest_under = max((c for c, _, m in measured if m < LIMIT), default=0)
    return CaseResult(
        key="wide",
        title="memory per column: the convert Worker on wide raw files",
        target=f"a raw file of {TARGET_COLUMNS:,} columns converts inside workerd under 128 MB of wasm memory",
        measured=f"widest measured under 128 MB: {widest_under:,} columns",
        verdict=verdict(ok),
        tables=[
            Table(
                ["columns", "raw file", "wasm memory high-water", "of 128 MB", "per added column"],
                table_rows,
                caption=f"{rows:,} rows per file; per added column = (memory - memory at {narrow_cols:,} columns) / added columns.",
            )
        ],
        notes=[
            "The Worker's wasm memory never shrinks, so the high-water mark of a fresh Miniflare is this file's peak. "
            "What keeps it small (crates/core/src/raw/limits.rs): zstd contexts shared per thread instead of one per "
            "column reader and writer (vendor/zstd/ICEPIPE.md), no dictionary encoding above 256 columns, decoded "
            "batches sized by width.",
        ],
    )
