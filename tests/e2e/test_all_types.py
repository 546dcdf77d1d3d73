"""Every Arrow type an Iceberg table can hold goes through `icepipe convert` and comes back unchanged in
PyIceberg, DuckDB (iceberg_scan and ATTACH through the REST catalog) and polars."""

from __future__ import annotations

import pyarrow as pa
import pytest

import checks
import datagen
import readers

SIZES = [(11, 2_000, 0), (12, 3_500, 1_000_000), (13, 5_000, 2_000_000)]  # (seed, rows, first id)
# Parquet writer options per file: the raw files vary like files from different producers do.
WRITE_OPTIONS = [
    {},  # pyarrow defaults: snappy, dictionary pages, data page v1, one row group
    {"compression": "none", "use_dictionary": False},
    {"compression": "zstd", "data_page_version": "2.0", "row_group_size": 700},  # several row groups
]

# Iceberg type (PyIceberg's str()) each source column must map to; several allowed where the spec allows.
EXPECTED_ICEBERG_TYPES = {
    "id": {"long"},
    "c_int8": {"int"},
    "c_int16": {"int"},
    "c_int32": {"int"},
    "c_int64": {"long"},
    "c_uint8": {"int"},
    "c_uint16": {"int"},
    "c_uint32": {"long"},  # int cannot hold values above 2**31 - 1
    "c_float32": {"float"},
    "c_float64": {"double"},
    "c_dec9_2": {"decimal(9, 2)"},
    "c_dec38_10": {"decimal(38, 10)"},
    "c_bool": {"boolean"},
    "c_string": {"string"},
    "c_large_string": {"string"},
    "c_binary": {"binary"},
    "c_large_binary": {"binary"},
    "c_date": {"date"},
    "c_time_us": {"time"},
    "c_time_ms": {"time"},
    "c_ts_ms": {"timestamp"},
    "c_ts_us": {"timestamp"},
    "c_ts_ns": {"timestamp", "timestamp_ns"},
    "c_tstz_ms": {"timestamptz"},
    "c_tstz_us": {"timestamptz"},
    "c_tstz_ns": {"timestamptz", "timestamptz_ns"},
    "c_uuid": {"uuid"} if datagen.HAS_UUID_TYPE else {"fixed[16]", "uuid"},
    "c_fixed8": {"fixed[8]"},
    "c_dict_string": {"string"},
    "_load_id": {"string"},
    "_loaded_at": {"timestamptz"},
}


@pytest.fixture(scope="module")
def sources() -> list[pa.Table]:
    return [datagen.all_types_table(seed, n, first) for seed, n, first in SIZES]


@pytest.fixture(scope="module")
def source_files(sources) -> list[bytes]:
    return [datagen.parquet_bytes(t, **opts) for t, opts in zip(sources, WRITE_OPTIONS)]


@pytest.fixture(scope="module")
def expected(sources, source_files) -> readers.Canonical:
    # The source side, read back from the Parquet bytes with pyarrow (what the raw bucket holds).
    import io

    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(b)) for b in source_files]
    for t, src in zip(tables, sources):
        assert t.schema.equals(src.schema), "pyarrow round trip changed the source schema"
    assert pq.ParquetFile(io.BytesIO(source_files[2])).num_row_groups > 1
    return readers.source_canonical(tables)


@pytest.fixture(scope="module")
def converted(icepipe, module_raw, module_table, source_files):
    urls = [module_raw.put(f"all_types_{i}.parquet", b) for i, b in enumerate(source_files)]
    result = icepipe.convert(urls, table=module_table).ok()
    return {"urls": urls, "result": result, "out": result.for_table(module_table)}


@pytest.fixture(scope="module")
def reads(converted, stack, catalog, module_table) -> dict[str, pa.Table]:
    return readers.all_readers(stack, catalog, module_table)


def test_convert_output_and_single_snapshot(converted, catalog, s3, module_table, sources, stack):
    out, urls = converted["out"], converted["urls"]
    total = sum(t.num_rows for t in sources)
    assert isinstance(out["snapshot_id"], int), out
    assert sorted(out["objects"]) == sorted(urls), out
    assert out["skipped"] == [], out
    assert out["rows"] == total, out
    assert out["data_files"] >= 1 and out["bytes"] > 0, out

    table = catalog.load_table(module_table)
    snaps = table.metadata.snapshots
    assert len(snaps) == 1, f"expected exactly one snapshot for one convert call, got {[s.snapshot_id for s in snaps]}"
    assert table.current_snapshot().snapshot_id == out["snapshot_id"]
    meta = checks.read_json_object(s3, table.metadata_location)
    summary = checks.snapshot_from_metadata(meta, out["snapshot_id"])["summary"]
    assert summary["operation"] == "append", summary
    assert int(summary["total-records"]) == total, summary
    assert int(summary["added-records"]) == total, summary
    assert int(summary["added-data-files"]) == out["data_files"], summary
    keys = checks.raw_object_keys(s3, summary)
    assert len(keys) == 3 and all(any(checks.key_matches(k, u, stack.raw_bucket) for k in keys) for u in urls), keys


def test_schema_and_partitioning(converted, catalog, module_table, sources):
    table = catalog.load_table(module_table)
    schema = table.schema()
    names = [f.name for f in schema.fields]
    for name in sources[0].column_names + ["_loaded_at", "_load_id"]:
        assert name in names, f"column {name} missing from the table schema {names}"
    problems = []
    for name, allowed in EXPECTED_ICEBERG_TYPES.items():
        got = str(schema.find_field(name).field_type)
        if got not in allowed:
            problems.append(f"{name}: {got}, expected one of {sorted(allowed)}")
    nested = {
        "c_struct": "StructType",
        "c_list_long": "ListType",
        "c_list_struct": "ListType",
        "c_map": "MapType",
    }
    for name, cls in nested.items():
        got = type(schema.find_field(name).field_type).__name__
        if got != cls:
            problems.append(f"{name}: {got}, expected {cls}")
    for name in sources[0].column_names:
        if schema.find_field(name).required:
            problems.append(f"{name} is required; the file column is nullable")
    assert not problems, "\n".join(problems)
    assert len({f.field_id for f in schema.fields}) == len(schema.fields)

    spec = table.spec()
    assert len(spec.fields) == 1, spec
    pf = spec.fields[0]
    assert schema.find_field(pf.source_id).name == "_loaded_at", spec
    assert str(pf.transform) == "day", spec


@pytest.mark.parametrize("reader", ["pyiceberg", "duckdb iceberg_scan", "duckdb attach", "polars"])
def test_reader_sees_identical_data(reader, reads, sources, expected):
    table = reads[reader]
    checks.no_problems(readers.compare(reader, table, sources[0].schema, expected))


@pytest.mark.parametrize("reader", ["pyiceberg", "duckdb iceberg_scan", "duckdb attach", "polars"])
def test_reader_sees_load_columns(reader, reads, sources):
    table = reads[reader]
    total = sum(t.num_rows for t in sources)
    for name in ("_loaded_at", "_load_id"):
        assert name in table.column_names, f"{reader}: {name} missing"
        col = table.column(name)
        assert col.null_count == 0, f"{reader}: {col.null_count} null {name} values"
        assert len(col) == total
    assert pa.types.is_timestamp(table.schema.field("_loaded_at").type)
    assert table.schema.field("_loaded_at").type.tz is not None, f"{reader}: _loaded_at has no time zone"


def test_readers_agree_on_checksums(reads, sources, expected):
    """Each reader's per-column checksums equal the source's (a compact restatement of the per-reader tests
    that shows all four side by side when something differs)."""
    schema = sources[0].schema
    want, got = {}, {}
    for reader, t in reads.items():
        quirks = readers.READER_QUIRKS.get(reader, set())
        want[reader] = readers.apply_quirks(expected, schema, quirks).checksums()
        try:
            got[reader] = readers.apply_quirks(readers.canonicalize(t, schema), schema, quirks).checksums()
        except Exception as e:  # noqa: BLE001
            got[reader] = {"<error>": f"{type(e).__name__}: {e}"}
    diffs = [
        f"{col}: " + ", ".join(f"{r}={'ok' if got[r].get(col) == want[r][col] else 'DIFF'}" for r in got)
        for col in expected.columns
        if any(got[r].get(col) != want[r][col] for r in got)
    ]
    diffs += [f"{r}: {g['<error>']}" for r, g in got.items() if "<error>" in g]
    checks.no_problems(diffs)
