"""Benchmark inputs, made deterministically with `icepipe generate` (fixed seeds) and kept under
.icepipe/bench/data between runs: the same rows and seed always give the same bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lib.context import Context
from lib.log import log


def generated(ctx: Context, rows: int, seed: int = 1) -> Path:
    """One raw Parquet file of `rows` rows (12 columns)."""
    out = ctx.data_dir / f"raw-{rows}-s{seed}.parquet"
    if not out.exists():
        log(f"generating {out.name}")
        tmp = out.with_suffix(".tmp")
        subprocess.run([ctx.icepipe, "generate", "--rows", str(rows), "--seed", str(seed), "--out", str(tmp)], check=True, capture_output=True)
        tmp.rename(out)
    return out


def many(ctx: Context, count: int, rows: int, first_seed: int = 1000) -> list[Path]:
    """`count` distinct small files (seeds first_seed...) in a directory of their own."""
    d = ctx.data_dir / f"many-{count}x{rows}-s{first_seed}"
    done = d / ".complete"
    files = [d / f"part-{i:05d}.parquet" for i in range(count)]
    if not done.exists():
        log(f"generating {count} files of {rows} rows in {d.name}")
        d.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            subprocess.run([ctx.icepipe, "generate", "--rows", str(rows), "--seed", str(first_seed + i), "--out", str(f)], check=True, capture_output=True)
        done.touch()
    return files
