"""Parquet files as other writers lay them out reach the table whole, and every reader agrees with the source.

Rows in = rows out: each converted object lands exactly the rows its footer declares, or fails naming the
object, the row group, the columns and the reason, and is never held by the ledger.

Fixtures:
  - legacy nested layouts (unannotated repeated groups and primitives, two-level lists, Hive/Spark list names,
    nested two-level lists, MAP_KEY_VALUE maps) and a file whose footer claims more rows than its pages hold:
    hand-built with the parquet crate's low-level writer, so the Parquet schema is exactly what parquet-mr,
    Avro, Thrift, Hive and Spark emit (`crates/core/examples/parquet_layouts.rs`, built by `cargo test`);
  - pyarrow's non-compliant lists and INT96 timestamps (Spark-style, without an Arrow schema): pyarrow itself.
The source side is read with pyarrow (parquet-cpp), a decoder independent of the one icepipe uses.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import checks
import readers

REPO_ROOT = Path(__file__).resolve().parents[2]
LEGACY_LAYOUTS = [
    "repeated_group",
    "repeated_primitive",
    "two_level_list",
    "legacy_list_names",
    "nested_two_level_list",
    "legacy_map",
]
ROWS = 6


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    binary = Path(os.environ.get("ICEPIPE_LAYOUTS_BIN") or REPO_ROOT / "target/debug/examples/parquet_layouts")
    if not binary.is_file():
        pytest.fail(
            f"fixture writer not found at {binary}: build it with "
            "`cargo build -p icepipe-core --example parquet_layouts` (cargo test builds it too)",
            pytrace=False,
        )
    out = tmp_path_factory.mktemp("layouts")
    subprocess.run([str(binary), str(out)], check=True, capture_output=True, timeout=60)
    return out


def convert_and_compare(icepipe, ident, stack, catalog, url: str, source: pa.Table) -> dict:
    """Converts the raw object `url` into `ident`, then checks that every reader returns `source`'s rows and
    values."""
    out = icepipe.convert([url], table=ident).ok().for_table(ident)
    assert out["rows"] == source.num_rows, out
    expected = readers.source_canonical([source])
    problems = []
    for reader, table in readers.all_readers(stack, catalog, ident).items():
        problems += readers.compare(reader, table, source.schema, expected)
    checks.no_problems(problems)
    return out


@pytest.mark.parametrize("layout", LEGACY_LAYOUTS)
def test_legacy_layout_lands_every_row(layout, fixtures, icepipe, raw, new_table, stack, catalog):
    data = (fixtures / f"{layout}.parquet").read_bytes()
    source = pq.read_table(io.BytesIO(data))
    assert source.num_rows == ROWS, "the fixture itself"
    assert b"ARROW:schema" not in data, "legacy fixtures carry no Arrow schema"
    convert_and_compare(icepipe, new_table(), stack, catalog, raw.put(f"{layout}.parquet", data), source)


def test_pyarrow_non_compliant_nested_types(icepipe, raw, new_table, stack, catalog):
    """`use_compliant_nested_type=False` (pyarrow before 13): `list<item>` names; no Arrow schema to lean on."""
    source = pa.table(
        {
            "id": pa.array(range(1, ROWS + 1), pa.int64()),
            "xs": pa.array([[1, None], None, [], [4], [5, 6, 7], [None]], pa.list_(pa.int32())),
            "nested": pa.array(
                [[[1], []], None, [[2, 3]], [], [None, [4]], [[5]]], pa.list_(pa.list_(pa.int16()))
            ),
            "m": pa.array(
                [[("a", 1)], None, [], [("b", None), ("c", 3)], [("d", 4)], None], pa.map_(pa.string(), pa.int64())
            ),
        }
    )
    buf = io.BytesIO()
    pq.write_table(source, buf, use_compliant_nested_type=False, store_schema=False)
    data = buf.getvalue()
    assert "item" in str(pq.ParquetFile(io.BytesIO(data)).schema), "not the non-compliant layout"
    convert_and_compare(icepipe, new_table(), stack, catalog, raw.put("non_compliant.parquet", data), source)


def test_footer_claiming_more_rows_than_pages_hold_is_refused_named_and_not_held(fixtures, icepipe, raw, new_table, catalog):
    data = (fixtures / "overstated_rows.parquet").read_bytes()
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    assert (meta.num_rows, meta.row_group(1).num_rows) == (8, 5), "the fixture claims 8 rows"
    assert pq.read_table(io.BytesIO(data)).num_rows == ROWS, "its pages hold 6"

    ident = new_table()
    url = raw.put("overstated_rows.parquet", data)
    r = icepipe.convert([url], table=ident).failed()
    for part in ("overstated_rows.parquet", "row group 1", "columns id, name", "declares 5 rows but its pages hold 3"):
        assert part in r.stderr, f"stderr does not say {part!r}\n{r.describe()}"
    if checks.table_exists(catalog, ident):
        assert catalog.load_table(ident).metadata.snapshots == [], "a snapshot was committed"

    # With --skip-invalid the call goes on without it: still refused, never in the ledger.
    good = raw.put("good.parquet", pq.read_table(io.BytesIO((fixtures / "repeated_group.parquet").read_bytes())))
    r = icepipe.convert([good, url], table=ident, skip_invalid=True)
    assert r.returncode == 3, r.describe()
    out = r.for_table(ident)
    assert out["rows"] == ROWS and len(out["objects"]) == 1, out
    keys = checks.raw_object_keys(catalog.load_table(ident).current_snapshot().summary)
    assert not any("overstated_rows" in k for k in keys), keys


# INT96: 12 bytes of Julian day + nanoseconds of the day. Values past nanoseconds' range (1677-2262) on purpose.
INT96_VALUES = [
    dt.datetime(2024, 1, 1, 20, 34, 56, 123456),
    dt.datetime(1970, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(1500, 6, 15, 12, 0, 0, 1),
    None,
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
]


def int96_source(tz: str | None) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(1, ROWS + 1), pa.int64()),
            "at": pa.array(INT96_VALUES, pa.timestamp("us")).cast(pa.timestamp("us", tz=tz)),
            "s": pa.array([{"seen": v} for v in reversed(INT96_VALUES)], pa.struct([("seen", pa.timestamp("us"))])),
        }
    )


@pytest.mark.parametrize(
    "style",
    ["spark", "pyarrow"],
    ids=["spark (no Arrow schema: timestamptz)", "pyarrow (Arrow schema without zone: timestamp)"],
)
def test_int96_timestamps_convert_to_microseconds(style, icepipe, raw, new_table, stack, catalog):
    spark = style == "spark"
    source = int96_source(None)
    buf = io.BytesIO()
    if spark:
        # What Spark writes: INT96, no Arrow schema, its own row metadata.
        source = source.replace_schema_metadata({"org.apache.spark.sql.parquet.row.metadata": '{"type":"struct"}'})
    pq.write_table(source, buf, use_deprecated_int96_timestamps=True, store_schema=not spark)
    data = buf.getvalue()
    physical = pq.ParquetFile(io.BytesIO(data)).schema.column(1).physical_type
    assert physical == "INT96", physical
    # The source side through parquet-cpp, in microseconds (its nanosecond default would overflow).
    read = pq.read_table(io.BytesIO(data), coerce_int96_timestamp_unit="us")
    assert read.column("at").to_pylist() == INT96_VALUES

    ident = new_table()
    zone = "UTC" if spark else None
    expected = int96_source(zone)
    if spark:
        expected = expected.cast(
            pa.schema([expected.schema.field(0), ("at", pa.timestamp("us", "UTC")), ("s", pa.struct([("seen", pa.timestamp("us", "UTC"))]))])
        )
    convert_and_compare(icepipe, ident, stack, catalog, raw.put(f"int96_{style}.parquet", data), expected)
    schema = catalog.load_table(ident).schema()
    want = "timestamptz" if spark else "timestamp"
    assert str(schema.find_field("at").field_type) == want, schema
    assert str(schema.find_field("s.seen").field_type) == want, schema


NS_VALUES = [1_700_000_000_123_456_789, -1, None, 1_000, -1_500, 86_399_999_999_999]


def test_nanosecond_digits_refused_by_default_then_truncated_by_table_property(icepipe, raw, new_table, stack, catalog):
    source = pa.table(
        {
            "id": pa.array(range(1, ROWS + 1), pa.int64()),
            "ts": pa.array(NS_VALUES, pa.timestamp("ns", tz="UTC")),
            "t": pa.array([v % 86_400_000_000_000 if v is not None else None for v in NS_VALUES], pa.time64("ns")),
        }
    )
    ident = new_table()
    url = raw.put("nanos.parquet", source)
    r = icepipe.convert([url], table=ident).failed()
    for part in ("nanos.parquet", "column ts", "1700000000123456789", "icepipe.nanosecond-timestamps=truncate"):
        assert part in r.stderr, f"stderr does not say {part!r}\n{r.describe()}"
    table = catalog.load_table(ident)  # created by the first attempt, without a snapshot
    assert table.metadata.snapshots == []

    with table.transaction() as tx:
        tx.set_properties({"icepipe.nanosecond-timestamps": "truncate"})
    # Rounded down to the microsecond (towards the past, before 1970 too).
    floor_us = [None if v is None else v // 1000 for v in NS_VALUES]
    expected = pa.table(
        {
            "id": source.column("id"),
            "ts": pa.array(floor_us, pa.timestamp("us", tz="UTC")),
            "t": pa.array([None if v is None else (v % 86_400_000_000_000) // 1000 for v in NS_VALUES], pa.time64("us")),
        }
    )
    # The same raw object again (as a replay of its error record would send it): it was never held.
    convert_and_compare(icepipe, ident, stack, catalog, url, expected)
