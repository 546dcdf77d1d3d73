"""The `replace` write disposition: raw files whose Parquet footer says `icepipe.write_disposition=replace`
swap the table's rows for their load's in one `overwrite` snapshot. Parts of one load accumulate across calls,
an older load's late part is superseded (reported, never committed), and every reader sees only the newest
load's rows while time travel still reaches the old ones."""

from __future__ import annotations

import pyarrow as pa

import checks
import datagen
import readers

# Load ids sort by time: A < B.
LOAD_A = "20261124T080000000Z-aaaaaaaa"
LOAD_B = "20261124T090000000Z-bbbbbbbb"


def ingest_file(n_rows: int, id_start: int, load_id: str, disposition: str = "replace") -> pa.Table:
    """Rows as the ingest writes them: the load id and write disposition in the footer's key-value metadata."""
    table = datagen.simple_table(n_rows, id_start, seed=id_start)
    return table.replace_schema_metadata({"icepipe.load_id": load_id, "icepipe.write_disposition": disposition})


def put_part(raw, load_id: str, part: int, table: pa.Table) -> str:
    return raw.put(f"{load_id}-{part:04d}.parquet", table)


def operation(catalog, ident: str) -> str:
    op = catalog.load_table(ident).current_snapshot().summary.operation
    return getattr(op, "value", op)


def assert_every_reader_sees(stack, catalog, ident: str, parts: list[pa.Table]) -> None:
    """PyIceberg, DuckDB (scan and attach) and polars all return exactly the rows of `parts`."""
    expected = readers.source_canonical([p.replace_schema_metadata(None) for p in parts])
    schema = parts[0].schema
    problems = []
    for name, got in readers.all_readers(stack, catalog, ident).items():
        problems += readers.compare(name, got, schema, expected)
    checks.no_problems(problems)


def test_a_replace_load_swaps_the_rows_for_every_reader(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    a1, a2 = ingest_file(300, 0, LOAD_A), ingest_file(200, 300, LOAD_A)
    out = icepipe.convert([put_part(raw, LOAD_A, 1, a1), put_part(raw, LOAD_A, 2, a2)], table=ident).ok().for_table(ident)
    assert out["replace_load_id"] == LOAD_A and out["rows"] == 500, out
    assert operation(catalog, ident) == "overwrite"
    checks.assert_ids(stack, catalog, ident, range(500))
    snapshot_a = checks.current_snapshot_id(catalog, ident)

    # Load B, first part: A's rows are gone in the same snapshot.
    b1 = ingest_file(120, 10_000, LOAD_B)
    out = icepipe.convert([put_part(raw, LOAD_B, 1, b1)], table=ident).ok().for_table(ident)
    assert out["replace_load_id"] == LOAD_B, out
    assert (out["removed_files"], out["removed_rows"]) == (2, 500), out
    assert operation(catalog, ident) == "overwrite"
    summary = catalog.load_table(ident).current_snapshot().summary
    assert summary["deleted-data-files"] == "2" and summary["deleted-records"] == "500", summary
    assert summary["total-records"] == "120" and summary["icepipe.replace-load-id"] == LOAD_B, summary
    assert_every_reader_sees(stack, catalog, ident, [b1])

    # Load B, second part in another call: B's parts accumulate.
    b2 = ingest_file(80, 20_000, LOAD_B)
    out = icepipe.convert([put_part(raw, LOAD_B, 2, b2)], table=ident).ok().for_table(ident)
    assert out["removed_files"] == 0, out
    assert operation(catalog, ident) == "overwrite"
    assert_every_reader_sees(stack, catalog, ident, [b1, b2])
    assert readers.duckdb_count(stack, metadata_location=catalog.load_table(ident).metadata_location) == 200

    # Time travel still reaches load A.
    old = catalog.load_table(ident).scan(snapshot_id=snapshot_a).to_arrow()
    assert sorted(old.column("id").to_pylist()) == list(range(500))


def test_a_late_part_of_an_older_load_is_superseded(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    icepipe.convert([put_part(raw, LOAD_B, 1, ingest_file(50, 1000, LOAD_B))], table=ident).ok()
    snapshots = checks.snapshot_ids(catalog, ident)

    late = put_part(raw, LOAD_A, 3, ingest_file(40, 0, LOAD_A))
    result = icepipe.convert([late], table=ident).ok()
    out = result.for_table(ident)
    assert out["snapshot_id"] is None and out["objects"] == [], out
    assert len(out["superseded"]) == 1, out
    superseded = out["superseded"][0]
    assert superseded["object"] == late and superseded["load_id"] == LOAD_A, superseded
    assert f"superseded by load {LOAD_B}" in superseded["reason"], superseded
    assert checks.snapshot_ids(catalog, ident) == snapshots, "a superseded part committed a snapshot"
    checks.assert_ids(stack, catalog, ident, range(1000, 1050))


def test_appends_keep_appending_after_a_replace(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    icepipe.convert([put_part(raw, LOAD_A, 1, ingest_file(30, 0, LOAD_A))], table=ident).ok()
    plain = raw.put("plain.parquet", datagen.simple_table(20, 500, seed=1))  # no footer metadata: append
    appended = raw.put("appended.parquet", ingest_file(10, 700, LOAD_B, disposition="append"))
    out = icepipe.convert([plain, appended], table=ident).ok().for_table(ident)
    assert out["rows"] == 30 and out["replace_load_id"] is None, out
    assert operation(catalog, ident) == "append"
    checks.assert_ids(stack, catalog, ident, list(range(30)) + list(range(500, 520)) + list(range(700, 710)))
