"""The two sides most cases compare, as one measured run each: `icepipe convert` (native CLI) and
the PyIceberg peer (bench/peers/pyiceberg_append.py). Both commit into a table of the run's
namespace and print JSON, which is checked so a fast-but-wrong run cannot pass unnoticed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from typing import Callable

from lib import measure, stack
from lib.context import Context

PEER = Path(__file__).resolve().parents[1] / "peers" / "pyiceberg_append.py"
WORKER_DRIVER = Path(__file__).resolve().parents[1] / "worker_convert.mjs"


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss_bytes: int
    rows: int
    detail: dict  # the tool's own JSON report


def icepipe_convert(ctx: Context, table: str, inputs: list[Path], expect_rows: int, env: dict[str, str] | None = None) -> Sample:
    """`icepipe convert --table T --json INPUT...`: all inputs in one snapshot. `env` adds to the
    stack's settings (e.g. `ICEPIPE_ENCODE_THREADS`)."""
    r = measure.run([ctx.icepipe, "convert", "--json", "--table", table, *map(str, inputs)], env={**ctx.env, **(env or {})})
    reports = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    rows = sum(int(x.get("rows", 0)) for x in reports)
    _check_rows("icepipe convert", table, rows, expect_rows)
    return Sample(r.seconds, r.peak_rss_bytes, rows, reports[0] if reports else {})


def pyiceberg_append(ctx: Context, table: str, inputs: list[Path], expect_rows: int, per_file: bool = False) -> Sample:
    """The PyIceberg peer: one append of all inputs, or one append per input."""
    cmd = [ctx.python, str(PEER), "--table", table, *(["--per-file"] if per_file else []), *map(str, inputs)]
    r = measure.run(cmd, env=ctx.env)
    detail = json.loads(r.stdout.strip().splitlines()[-1])
    _check_rows("PyIceberg peer", table, int(detail["rows"]), expect_rows)
    return Sample(r.seconds, r.peak_rss_bytes, int(detail["rows"]), detail)


def in_fresh_tables(ctx: Context, case: str, name: str, convert: Callable[[str], Sample], nbytes: int) -> Callable[[int], Sample]:
    """A side for `interleave`: run i converts (`convert(table)`) into its own table
    <case>.<name>_i, purged afterwards so the stack's disk does not fill across pairs."""

    def run(i: int) -> Sample:
        table = ctx.ident(case, f"{name}_{i}")
        sample = convert(table)
        stack.purge(table, nbytes)
        return sample

    return run


def worker_convert(ctx: Context, input: Path | None, resource: str, expect_rows: int = 0) -> Sample:
    """The convert Worker in a fresh Miniflare (bench/worker_convert.mjs). `seconds` is the time from
    the R2 notification to the Worker's batch line (the put into local R2 and Miniflare's start are
    not in it); detail has cold_start_ms, the batch line and the table. With `input` None: start
    only (cold start)."""
    cmd = ["node", str(WORKER_DRIVER), "--namespace-root", ctx.namespace, "--resource", resource]
    if input is not None:
        cmd += ["--file", str(input)]
    r = measure.run(cmd, env=ctx.env, cwd=str(ctx.root))
    detail = json.loads(r.stdout.strip().splitlines()[-1])
    if input is None:
        return Sample(detail["cold_start_ms"] / 1000, r.peak_rss_bytes, 0, detail)
    rows = int(detail["batch"]["rows"])
    _check_rows("convert Worker", detail["table"], rows, expect_rows)
    return Sample(detail["convert_ms"] / 1000, r.peak_rss_bytes, rows, detail)


def _check_rows(who: str, table: str, got: int, want: int) -> None:
    if got != want:
        raise measure.CommandFailed(f"{who} committed {got} rows into {table}, expected {want}")
