"""A month of minutes: one small file per commit into one day-partitioned table (10,000 commits over
30 days of raw layout), with `icepipe maintain` on its schedule (every 100 commits, at most 10 steps:
what the convert Worker's cron does between commits). Side by side: the same history without
maintenance, and PyIceberg appends (one per file). Targets: metadata.json under 1 MB throughout;
commit latency at the end within 1.5x of at the start; scan planning within 2x of a fresh table
holding the same rows; at most 4 data files per partition-day after maintenance; no orphan bytes;
redelivering the first day's files at the end adds 0 rows.

Time is compressed: a month of commits runs in minutes, so snapshot expiry keeps R2's 5 snapshots
but with the age limit scaled to 0 (history.expire.max-snapshot-age-ms), and the orphan grace
period to 0 when orphans are counted at the end."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lib import measure, stack
from lib.context import Context
from lib.log import log
from lib.result import CaseResult, Table, verdict

MAX_METADATA_BYTES = 1_000_000
TARGET_GROWTH = 1.5
TARGET_PLANNING = 2.0
MAX_FILES_PER_DAY = 4
EDGE = 20  # commits averaged at the start and at the end
START = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
# A month compressed into minutes: no pace between one table's commits and no per-minute catalog
# budget (the local catalog has no rate limits; on R2 the same history spreads over the month).
COMPRESSED_TIME = ("--commit-interval", "0", "--catalog-writes-per-minute", "1000000")


def minute_files(ctx: Context) -> list[Path]:
    """One small file per commit, laid out by raw layout day (the ledger's segment key)."""
    s = ctx.sizes
    d = ctx.data_dir / f"month-{s.month_commits}x{s.month_rows}-{s.month_days}d"
    done = d / ".complete"
    files = []
    for i in range(s.month_commits):
        day = START + dt.timedelta(days=i * s.month_days // s.month_commits)
        files.append(d / f"year={day:%Y}/month={day:%m}/day={day:%d}/m-{i:06d}.parquet")
    if done.exists():
        return files
    log(f"month_of_minutes: generating {len(files)} minute files")
    per_day = -(-s.month_commits // s.month_days)
    for i, f in enumerate(files):
        f.parent.mkdir(parents=True, exist_ok=True)
        at = START + dt.timedelta(days=i * s.month_days // s.month_commits, minutes=(i % per_day))
        ids = pa.array(range(i * s.month_rows, (i + 1) * s.month_rows), pa.int64())
        table = pa.table(
            {
                "id": ids,
                "value": pa.array([float(x) * 0.5 for x in range(s.month_rows)], pa.float64()),
                "_loaded_at": pa.array([at] * s.month_rows, pa.timestamp("us", tz="UTC")),
            }
        )
        pq.write_table(table, f)
    done.touch()
    return files


def icepipe(ctx: Context, *args: str) -> list[dict]:
    p = subprocess.run([ctx.icepipe, *args], env=ctx.env, capture_output=True, text=True, timeout=7200)
    if p.returncode != 0:
        raise RuntimeError(f"icepipe {' '.join(args[:3])} exited {p.returncode}: {p.stderr[-2000:]}")
    out = []
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def health(ctx: Context, table: str) -> dict:
    p = subprocess.run([ctx.icepipe, "tables", "--health", "--json", "--table", table], env=ctx.env, capture_output=True, text=True, check=True)
    (found,) = [t for t in json.loads(p.stdout) if t["table"] == table]
    return found["health"]


def set_properties(table: str, props: dict) -> None:
    t = stack.catalog().load_table(table)
    with t.transaction() as tx:
        tx.set_properties({k: str(v) for k, v in props.items()})


def metadata_bytes(table: str) -> int:
    return health_free_metadata_size(stack.catalog().load_table(table).metadata_location)


def health_free_metadata_size(location: str) -> int:
    return stack.s3_filesystem().get_file_info(location.split("://", 1)[1]).size


def grow_icepipe(ctx: Context, table: str, files: list[Path], maintain: bool) -> tuple[list[float], list[int], list[dict]]:
    """Commits file by file in chunks of `month_maintain_every`; after each chunk the scheduled
    maintenance (when on). Returns per-commit seconds, metadata.json sizes and maintenance steps."""
    s = ctx.sizes
    latencies, sizes, steps = [], [], []
    for start in range(0, len(files), s.month_maintain_every):
        chunk = files[start : start + s.month_maintain_every]
        reports = icepipe(ctx, "convert", "--json", "--snapshot-per-object", *COMPRESSED_TIME, "--table", table, *map(str, chunk))
        for r in reports:
            t = r.get("timings_ms", {})
            latencies.append(sum(t.get(k, 0) for k in ("load", "probe", "write", "commit")) / 1000)
        if start == 0:
            # R2's managed defaults (keep 5), the age limit scaled to this compressed month.
            set_properties(table, {"history.expire.min-snapshots-to-keep": 5, "history.expire.max-snapshot-age-ms": 0, "icepipe.maintenance.orphan-grace-ms": 0})
        if maintain:
            steps += icepipe(ctx, "maintain", "--json", *COMPRESSED_TIME, "--table", table, "--max-steps", "10")
        sizes.append(metadata_bytes(table))
    return latencies, sizes, steps


def grow_pyiceberg(table: str, files: list[Path]) -> tuple[list[float], list[int]]:
    from pyiceberg.transforms import DayTransform

    c = stack.catalog()
    latencies, sizes = [], []
    c.create_namespace_if_not_exists(tuple(table.split(".")[:-1]))
    for i, f in enumerate(files):
        data = pq.read_table(f)
        start = time.perf_counter()
        if i == 0:
            txn = c.create_table_transaction(table, schema=data.schema)
            with txn.update_spec() as spec:
                spec.add_field("_loaded_at", DayTransform(), "_loaded_at_day")
            txn.append(data)
            txn.commit_transaction()
        else:
            c.load_table(table).append(data)
        latencies.append(time.perf_counter() - start)
        if (i + 1) % 100 == 0 or i + 1 == len(files):
            sizes.append(metadata_bytes(table))
    return latencies, sizes


def fresh_table(table: str, files: list[Path]) -> None:
    """The same rows in one PyIceberg append: a table that never had a history."""
    from pyiceberg.transforms import DayTransform

    c = stack.catalog()
    data = pa.concat_tables(pq.read_table(f) for f in files)
    txn = c.create_table_transaction(table, schema=data.schema)
    with txn.update_spec() as spec:
        spec.add_field("_loaded_at", DayTransform(), "_loaded_at_day")
    txn.append(data)
    txn.commit_transaction()


def planning(table: str, day: dt.date, rounds: int = 3) -> dict[str, float]:
    """Median seconds: PyIceberg plan_files (full, one day) and DuckDB count(*) (full, one day)."""
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    t = stack.catalog().load_table(table)
    lo, hi = dt.datetime.combine(day, dt.time(), dt.timezone.utc), dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    one_day = And(GreaterThanOrEqual("_loaded_at", lo.isoformat()), LessThan("_loaded_at", hi.isoformat()))
    con = stack.duckdb_con()
    scan = f"iceberg_scan('{t.metadata_location}')"
    where = f"_loaded_at >= TIMESTAMPTZ '{lo.isoformat()}' AND _loaded_at < TIMESTAMPTZ '{hi.isoformat()}'"
    jobs = {
        "pyiceberg full": lambda: list(t.scan().plan_files()),
        "pyiceberg day": lambda: list(t.scan(row_filter=one_day).plan_files()),
        "duckdb full": lambda: con.execute(f"SELECT count(*) FROM {scan}").fetchone(),
        "duckdb day": lambda: con.execute(f"SELECT count(*) FROM {scan} WHERE {where}").fetchone(),
    }
    return measure.median_seconds(jobs, rounds)


def edges(latencies: list[float]) -> tuple[float, float]:
    n = min(EDGE, max(1, len(latencies) // 4))
    return statistics.median(latencies[:n]), statistics.median(latencies[-n:])


def run(ctx: Context) -> CaseResult:
    s = ctx.sizes
    files = minute_files(ctx)
    kept, bare, peer, fresh = (ctx.ident("month", n) for n in ("maintained", "unmaintained", "pyiceberg", "fresh"))
    log(f"month_of_minutes: {len(files)} commits with maintenance every {s.month_maintain_every}")
    k_lat, k_sizes, k_steps = grow_icepipe(ctx, kept, files, maintain=True)
    k_first, k_last = edges(k_lat)
    # Logged now: the later phases take long, and a run cut short still tells the main result.
    log(f"month_of_minutes: maintained: metadata.json max {max(k_sizes) / 1e3:.0f} KB, latency {k_first:.3f} s -> {k_last:.3f} s ({k_last / k_first:.2f}x)")
    bare_files = files[: s.month_bare_commits]
    log(f"month_of_minutes: the same history without maintenance, its first {len(bare_files)} commits")
    b_lat, b_sizes, _ = grow_icepipe(ctx, bare, bare_files, maintain=False)
    log(f"month_of_minutes: {s.month_peer_commits} PyIceberg appends")
    p_lat, p_sizes = grow_pyiceberg(peer, files[: s.month_peer_commits])
    fresh_table(fresh, files)

    # The end state of the maintained table: files per day, orphans (grace 0), a redelivery.
    k_health = health(ctx, kept)
    b_health = health(ctx, bare)
    dry = icepipe(ctx, "maintain", "--json", "--dry-run", "--table", kept)
    orphans = next((x for x in dry if x["step"] == "remove_orphans"), {"files_deleted": 0, "bytes_deleted": 0})
    dry_bare = icepipe(ctx, "maintain", "--json", "--dry-run", "--table", bare)
    orphans_bare = next((x for x in dry_bare if x["step"] == "remove_orphans"), {"files_deleted": 0, "bytes_deleted": 0})
    first_day = [f for f in files if f.parent == files[0].parent]
    again = icepipe(ctx, "convert", "--json", "--table", kept, *map(str, first_day))
    redelivered_rows = sum(int(r.get("rows", 0)) for r in again)
    rows = stack.catalog().load_table(kept).scan().to_arrow().num_rows
    if rows != len(files) * s.month_rows:
        raise RuntimeError(f"{kept} holds {rows} rows, expected {len(files) * s.month_rows}")

    day = START.date()
    plans = {name: planning(t, day) for name, t in (("maintained", kept), ("unmaintained", bare), ("fresh", fresh))}
    b_first, b_last = edges(b_lat)
    p_first, p_last = edges(p_lat)
    k_growth, b_growth = k_last / k_first, b_last / b_first
    planning_ratio = max(plans["maintained"][k] / plans["fresh"][k] for k in plans["fresh"])
    max_meta = max(k_sizes)
    max_files = k_health["max_files_in_a_partition"]
    ok = (
        max_meta < MAX_METADATA_BYTES
        and k_growth <= TARGET_GROWTH
        and planning_ratio <= TARGET_PLANNING
        and max_files <= MAX_FILES_PER_DAY
        and orphans["bytes_deleted"] == 0
        and redelivered_rows == 0
    )
    kinds = {}
    for step in k_steps:
        kinds[step["step"]] = kinds.get(step["step"], 0) + 1
    return CaseResult(
        key="month_of_minutes",
        title="a month of minutes",
        target=(
            f"metadata.json < 1 MB; commit latency growth <= {TARGET_GROWTH:g}x; planning <= {TARGET_PLANNING:g}x a fresh table; "
            f"<= {MAX_FILES_PER_DAY} files per partition-day; no orphan bytes; redelivery adds 0 rows"
        ),
        measured=(
            f"metadata.json max {max_meta / 1e3:.0f} KB (unmaintained {max(b_sizes) / 1e3:.0f} KB); latency {k_growth:.2f}x "
            f"(unmaintained {b_growth:.2f}x); planning {planning_ratio:.2f}x fresh; {max_files} files/day max; "
            f"{orphans['bytes_deleted']} orphan bytes; redelivery {redelivered_rows} rows"
        ),
        verdict=verdict(ok),
        tables=[
            Table(
                ["", "icepipe + maintenance", f"icepipe, no maintenance ({len(b_lat)})", f"PyIceberg appends ({len(p_lat)})"],
                [
                    ["commits", str(len(k_lat)), str(len(b_lat)), str(len(p_lat))],
                    ["metadata.json at the end", f"{k_sizes[-1] / 1e3:.0f} KB", f"{b_sizes[-1] / 1e3:.0f} KB", f"{p_sizes[-1] / 1e3:.0f} KB"],
                    ["metadata.json largest", f"{max_meta / 1e3:.0f} KB", f"{max(b_sizes) / 1e3:.0f} KB", f"{max(p_sizes) / 1e3:.0f} KB"],
                    [f"commit s, first {EDGE} (median)", f"{k_first:.3f}", f"{b_first:.3f}", f"{p_first:.3f}"],
                    [f"commit s, last {EDGE} (median)", f"{k_last:.3f}", f"{b_last:.3f}", f"{p_last:.3f}"],
                    ["growth", f"**{k_growth:.2f}x**", f"{b_growth:.2f}x", f"{p_last / p_first:.2f}x"],
                    ["snapshots at the end", str(k_health["snapshots"]), str(b_health["snapshots"]), "-"],
                    ["manifests", str(k_health["manifests"]), str(b_health["manifests"]), "-"],
                    ["data files", str(k_health["data_files"]), str(b_health["data_files"]), "-"],
                    ["most files in a partition-day", f"**{max_files}**", str(b_health["max_files_in_a_partition"]), "-"],
                    ["orphan files (bytes), grace 0", f"{orphans['files_deleted']} ({orphans['bytes_deleted']})", f"{orphans_bare['files_deleted']} ({orphans_bare['bytes_deleted']})", "-"],
                    ["ledger (objects, segment files, bytes)", f"{k_health['ledger']['objects']}, {k_health['ledger']['segment_files']}, {k_health['ledger']['segment_bytes']}", "-", "-"],
                ],
                caption=f"{len(files)} files of {s.month_rows} rows over {s.month_days} days; maintenance every {s.month_maintain_every} commits (at most 10 steps).",
            ),
            Table(
                ["scan planning, median s", "maintained", f"unmaintained ({len(b_lat)} commits)", "fresh (one append)", "maintained / fresh"],
                [[k, f"{plans['maintained'][k]:.3f}", f"{plans['unmaintained'][k]:.3f}", f"{plans['fresh'][k]:.3f}", f"{plans['maintained'][k] / plans['fresh'][k]:.2f}x"] for k in plans["fresh"]],
                caption="PyIceberg: plan_files(); DuckDB: count(*) through iceberg_scan (planning plus a cheap read); 'day' filters one day of _loaded_at.",
            ),
            Table(["maintenance steps run", "count"], [[k, str(v)] for k, v in sorted(kinds.items())]),
        ],
        notes=[
            f"Redelivering the first day's {len(first_day)} files at the end added {redelivered_rows} rows.",
            "Commit latency is icepipe's own load+probe+write+commit time per object (one process per chunk); PyIceberg's is the append call.",
        ],
    )
