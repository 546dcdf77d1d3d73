"""`_loaded_at` / `_load_id` given by the file are kept, rows land in the right `day(_loaded_at)` partitions
(partition values and column bounds agree), and filters that prune by them return the right rows in
PyIceberg and DuckDB. Also: awkward column names survive."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import GreaterThanOrEqual

import checks
import readers

UTC = dt.timezone.utc
DAYS = [dt.datetime(2026, 11, 22, tzinfo=UTC), dt.datetime(2026, 11, 23, tzinfo=UTC), dt.datetime(2026, 11, 24, tzinfo=UTC)]


def _table(n=900) -> pa.Table:
    loaded = [DAYS[i % 3] + dt.timedelta(seconds=(i * 37) % 86_400, microseconds=i) for i in range(n)]
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "_loaded_at": pa.array(loaded, pa.timestamp("us", "UTC")),
            "_load_id": pa.array([f"load-{i % 3}" for i in range(n)], pa.string()),
            "Mixed Case": pa.array([i * 2 for i in range(n)], pa.int64()),
            "dotted.name": pa.array([f"d{i}" for i in range(n)], pa.string()),
            "ünïcødé": pa.array([float(i) / 3 for i in range(n)], pa.float64()),
        }
    )


def test_given_load_columns_and_day_partitions(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    src = _table()
    out = icepipe.convert([raw.put("loaded.parquet", src)], table=ident).ok().for_table(ident)
    assert out["rows"] == src.num_rows
    table = catalog.load_table(ident)
    assert len(table.metadata.snapshots) == 1

    # every reader returns the file's own _loaded_at/_load_id and the awkward names unchanged
    expected = readers.source_canonical([src])
    problems = []
    for name, got in readers.all_readers(stack, catalog, ident).items():
        problems += readers.compare(name, got, src.schema, expected)
    checks.no_problems(problems)

    # one partition per day; each data file's partition value is the day of all its _loaded_at values
    files = table.inspect.files().to_pylist()
    assert files, "no data files"
    part_days = set()
    for f in files:
        (day,) = f["partition"].values()
        if isinstance(day, dt.date):  # PyIceberg shows a day partition value as a date
            day = (day - dt.date(1970, 1, 1)).days
        m = f["readable_metrics"]["_loaded_at"]
        lo, hi = m["lower_bound"], m["upper_bound"]
        epoch_day = lambda ts: (ts.astimezone(UTC).date() - dt.date(1970, 1, 1)).days  # noqa: E731
        assert epoch_day(lo) == epoch_day(hi) == day, f"{f['file_path']}: partition day {day}, _loaded_at bounds {lo}..{hi}"
        assert m["null_value_count"] == 0 and m["value_count"] == f["record_count"], m
        part_days.add(day)
    assert part_days == {(d.date() - dt.date(1970, 1, 1)).days for d in DAYS}

    # filters on _loaded_at prune by partition and bounds: the answer must still be exact
    cut = DAYS[1] + dt.timedelta(hours=12)
    want = sorted(i for i, v in enumerate(src.column("_loaded_at").to_pylist()) if v >= cut)
    got = table.scan(row_filter=GreaterThanOrEqual("_loaded_at", cut.isoformat()), selected_fields=("id",)).to_arrow()
    assert sorted(got.column("id").to_pylist()) == want
    con = readers.duckdb_connect(stack, attach=True)
    rows = con.execute(
        f"SELECT id FROM {readers.duckdb_table_ref(ident)} WHERE _loaded_at >= TIMESTAMPTZ '{cut.isoformat()}'"
    ).fetchall()
    assert sorted(r[0] for r in rows) == want
    rows = con.execute(
        f"SELECT count(*) FROM {readers.duckdb_table_ref(ident)} WHERE \"dotted.name\" = 'd7' AND \"Mixed Case\" = 14"
    ).fetchone()
    assert rows[0] == 1


def test_added_load_columns(icepipe, raw, new_table, catalog):
    """When the file lacks them, every row of the object gets a _loaded_at (around now) and one _load_id."""
    ident = new_table()
    src = pa.table({"id": pa.array(range(50), pa.int64())})
    before = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    icepipe.convert([raw.put("plain.parquet", src)], table=ident).ok()
    after = dt.datetime.now(UTC) + dt.timedelta(minutes=5)
    got = catalog.load_table(ident).scan().to_arrow()
    assert got.column("_loaded_at").null_count == 0 and got.column("_load_id").null_count == 0
    assert pc.count_distinct(got.column("_load_id")).as_py() == 1
    lo, hi = pc.min(got.column("_loaded_at")).as_py(), pc.max(got.column("_loaded_at")).as_py()
    assert before <= lo <= hi <= after, f"_loaded_at {lo}..{hi} is not around now"
