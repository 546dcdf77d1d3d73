"""Schema evolution through successive conversions into one table: a new column, type widening
(int -> long, float -> double, decimal precision), a narrower file type into a wider column, and a lossy
change that is rejected without touching the table."""

from __future__ import annotations

import random
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

import checks
import readers


def _file(n, first_id, seed, a_type=pa.int32(), f_type=pa.float32(), d_type=pa.decimal128(9, 2),
          big_type=pa.int64(), note=False, reorder=False) -> pa.Table:
    rng = random.Random(seed)
    wide = a_type == pa.int64()

    def nullable(values, rate=0.1):
        return [None if rng.random() < rate else v for v in values]

    cols = {
        "id": pa.array(range(first_id, first_id + n), pa.int64()),
        "a": pa.array(nullable([rng.randint(-(2**40), 2**40) if wide else rng.randint(-(2**31), 2**31 - 1) for _ in range(n)]), a_type),
        # float64 values that a float32 cannot hold exactly, float32 values otherwise
        "f": pa.array(nullable([rng.uniform(-1e9, 1e9) for _ in range(n)]), pa.float64()).cast(f_type, safe=False),
        "d": pa.array(
            nullable([Decimal(rng.randint(-(10 ** (d_type.precision)) + 1, 10 ** (d_type.precision) - 1)).scaleb(-2) for _ in range(n)]),
            d_type,
        ),
        "big": pa.array(nullable([rng.randint(-(2**62), 2**62) for _ in range(n)]), pa.int64()),
        "s": pa.array(nullable([f"s{rng.randint(0, 999)}" for _ in range(n)]), pa.string()),
    }
    if big_type != pa.int64():
        cols["big"] = pa.array([None if v is None else f"value {v}" for v in cols["big"].to_pylist()], big_type)
    if note:
        cols["note"] = pa.array(nullable([f"note {i}" for i in range(n)], 0.2), pa.string())
    names = list(cols)
    if reorder:
        names = ["id", "s", "note", "big", "f", "a", "d"] if note else ["id", "s", "big", "f", "a", "d"]
    return pa.table({k: cols[k] for k in names})


FINAL_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("a", pa.int64()),
        ("f", pa.float64()),
        ("d", pa.decimal128(18, 2)),
        ("big", pa.int64()),
        ("s", pa.string()),
        ("note", pa.string()),
    ]
)


def _as_final(t: pa.Table) -> pa.Table:
    cols = []
    for field in FINAL_SCHEMA:
        if field.name in t.column_names:
            cols.append(t.column(field.name).cast(field.type))  # exact: every cast here widens
        else:
            cols.append(pa.nulls(t.num_rows, field.type))
    return pa.table(cols, schema=FINAL_SCHEMA)


def _iceberg_types(catalog, ident) -> dict[str, tuple[str, bool]]:
    schema = catalog.load_table(ident).schema()
    return {f.name: (str(f.field_type), f.required) for f in schema.fields}


def _check_all_readers(stack, catalog, ident, files):
    expected_tables = [_as_final(t) for t in files]
    expected = readers.source_canonical(expected_tables)
    problems = []
    for name, table in readers.all_readers(stack, catalog, ident).items():
        problems += readers.compare(name, table, FINAL_SCHEMA, expected)
    checks.no_problems(problems)


def test_evolution_sequence(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    files = []

    # 1. the first file creates the table
    f1 = _file(500, 0, seed=1)
    r = icepipe.convert([raw.put("f1.parquet", f1)], table=ident).ok().for_table(ident)
    files.append(f1)
    types = _iceberg_types(catalog, ident)
    assert types["a"][0] == "int" and types["f"][0] == "float" and types["d"][0] == "decimal(9, 2)", types
    snaps = [r["snapshot_id"]]

    # 2. an extra column (and the columns in another order): added as optional, null for older rows
    f2 = _file(400, 10_000, seed=2, note=True, reorder=True)
    r = icepipe.convert([raw.put("f2.parquet", f2)], table=ident).ok().for_table(ident)
    files.append(f2)
    snaps.append(r["snapshot_id"])
    types = _iceberg_types(catalog, ident)
    assert types.get("note") == ("string", False), f"new column note should be an optional string: {types}"
    assert checks.snapshot_ids(catalog, ident) == snaps

    # 3. int32 -> int64, float32 -> float64, decimal(9,2) -> decimal(18,2): the table widens
    f3 = _file(300, 20_000, seed=3, a_type=pa.int64(), f_type=pa.float64(), d_type=pa.decimal128(18, 2), note=True)
    assert pc.max(pc.abs(f3.column("a"))).as_py() > 2**31, "test data must need a long"
    r = icepipe.convert([raw.put("f3.parquet", f3)], table=ident).ok().for_table(ident)
    files.append(f3)
    snaps.append(r["snapshot_id"])
    types = _iceberg_types(catalog, ident)
    assert types["a"][0] == "long" and types["f"][0] == "double" and types["d"][0] == "decimal(18, 2)", types
    _check_all_readers(stack, catalog, ident, files)

    # 4. lossy: `big` (long in the table) arrives as string -> rejected, table unchanged
    table_before = catalog.load_table(ident)
    f4 = _file(50, 30_000, seed=4, big_type=pa.string(), note=True)
    url4 = raw.put("f4_lossy.parquet", f4)
    bad = icepipe.convert([url4], table=ident).failed()
    key4 = url4.split("/", 3)[3]
    assert key4 in bad.stderr, f"stderr does not name the object {url4}\n{bad.describe()}"
    assert "big" in bad.stderr, f"stderr does not name the column `big`\n{bad.describe()}"
    table_after = catalog.load_table(ident)
    assert table_after.current_snapshot().snapshot_id == table_before.current_snapshot().snapshot_id
    assert table_after.metadata.current_schema_id == table_before.metadata.current_schema_id
    assert table_after.schema() == table_before.schema()
    assert checks.snapshot_ids(catalog, ident) == snaps

    # 5. a file narrower than the table (int32 into the long column, float32 into double) is fine
    f5 = _file(200, 40_000, seed=5, note=True)
    r = icepipe.convert([raw.put("f5.parquet", f5)], table=ident).ok().for_table(ident)
    files.append(f5)
    snaps.append(r["snapshot_id"])
    assert _iceberg_types(catalog, ident) == types, "a narrower file changed the table schema"
    assert checks.snapshot_ids(catalog, ident) == snaps
    _check_all_readers(stack, catalog, ident, files)


def test_lossy_int_column_gets_string(icepipe, raw, new_table, catalog):
    """The other lossy direction the contract names: an int column (not long) receiving strings."""
    ident = new_table()
    t1 = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "qty": pa.array([1, None, 3], pa.int32())})
    icepipe.convert([raw.put("q1.parquet", t1)], table=ident).ok()
    before = catalog.load_table(ident)
    t2 = pa.table({"id": pa.array([4], pa.int64()), "qty": pa.array(["four"], pa.string())})
    url = raw.put("q2.parquet", t2)
    bad = icepipe.convert([url], table=ident).failed()
    assert url.split("/", 3)[3] in bad.stderr and "qty" in bad.stderr, bad.describe()
    after = catalog.load_table(ident)
    assert after.current_snapshot().snapshot_id == before.current_snapshot().snapshot_id
    assert after.schema() == before.schema()
