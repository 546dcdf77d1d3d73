"""The snapshot icepipe commits is the one it wrote: the catalog did not repair it (SeaweedFS silently rewrites
non-compliant manifest lists/manifests into `metadata/repaired-*.avro`), and the Avro files carry the
Iceberg field ids, the manifest metadata and the data-file metrics that other engines rely on."""

from __future__ import annotations

import io
import json

import fastavro
import pyarrow.parquet as pq
import pytest

import checks
import datagen

# Iceberg spec field ids (manifest list: 500.., manifest entry: 0..4, data_file: 100..)
MANIFEST_LIST_IDS = {
    "manifest_path": 500,
    "manifest_length": 501,
    "partition_spec_id": 502,
    "content": 517,
    "sequence_number": 515,
    "min_sequence_number": 516,
    "added_snapshot_id": 503,
    "added_files_count": 504,
    "existing_files_count": 505,
    "deleted_files_count": 506,
    "added_rows_count": 512,
    "existing_rows_count": 513,
    "deleted_rows_count": 514,
    "partitions": 507,
    "key_metadata": 519,
    "first_row_id": 520,
}
FIELD_SUMMARY_IDS = {"contains_null": 509, "contains_nan": 518, "lower_bound": 510, "upper_bound": 511}
MANIFEST_ENTRY_IDS = {"status": 0, "snapshot_id": 1, "sequence_number": 3, "file_sequence_number": 4, "data_file": 2}
DATA_FILE_IDS = {
    "content": 134,
    "file_path": 100,
    "file_format": 101,
    "partition": 102,
    "record_count": 103,
    "file_size_in_bytes": 104,
    "column_sizes": 108,
    "value_counts": 109,
    "null_value_counts": 110,
    "nan_value_counts": 137,
    "lower_bounds": 125,
    "upper_bounds": 128,
    "key_metadata": 131,
    "split_offsets": 132,
    "equality_ids": 135,
    "sort_order_id": 140,
    "first_row_id": 142,
    "referenced_data_file": 143,
    "content_offset": 144,
    "content_size_in_bytes": 145,
}
MAP_IDS = {  # data_file map columns: array of records {key, value} with these ids
    "column_sizes": (117, 118),
    "value_counts": (119, 120),
    "null_value_counts": (121, 122),
    "nan_value_counts": (138, 139),
    "lower_bounds": (126, 127),
    "upper_bounds": (129, 130),
}


def _strip_null(t):
    """The non-null branch of an Avro union, else t."""
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        return rest[0] if len(rest) == 1 else t
    return t


def _fields_without_ids(schema, path="") -> list[str]:
    """Every record field (at any depth) must carry a field-id; arrays/maps need element-id/key-id/value-id."""
    out = []
    t = _strip_null(schema)
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "record":
            for f in t["fields"]:
                p = f"{path}.{f['name']}" if path else f["name"]
                if "field-id" not in f:
                    out.append(p)
                out += _fields_without_ids(f["type"], p)
        elif kind == "array":
            is_kv_map = t.get("logicalType") == "map"  # a map with non-string keys: array of {key, value}
            if "element-id" not in t and not is_kv_map:
                out.append(f"{path}[] (element-id)")
            out += _fields_without_ids(t["items"], f"{path}[]")
        elif kind == "map":
            for k in ("key-id", "value-id"):
                if k not in t:
                    out.append(f"{path} ({k})")
            out += _fields_without_ids(t["values"], f"{path}{{}}")
    return out


def _field(schema: dict, name: str) -> dict:
    for f in schema["fields"]:
        if f["name"] == name:
            return f
    raise AssertionError(f"field {name} missing from Avro schema {schema.get('name')}: {[f['name'] for f in schema['fields']]}")


def _check_ids(schema: dict, expected: dict, required: set[str], what: str) -> list[str]:
    problems = []
    names = {f["name"] for f in schema["fields"]}
    for name in required - names:
        problems.append(f"{what}: field {name} missing")
    for f in schema["fields"]:
        if f["name"] in expected and f.get("field-id") != expected[f["name"]]:
            problems.append(f"{what}: {f['name']} has field-id {f.get('field-id')}, expected {expected[f['name']]}")
    return problems


def _read_avro(s3, location):
    data = checks.read_bytes(s3, location)
    reader = fastavro.reader(io.BytesIO(data))
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in reader.metadata.items()}
    # the schema as written (fastavro's parsed writer_schema may drop attributes such as field-id)
    schema = json.loads(meta["avro.schema"])
    return schema, meta, list(reader), len(data)


@pytest.fixture(scope="module")
def committed(icepipe, module_raw, module_table, catalog, s3):
    files = [datagen.simple_table(1500, 0, seed=1), datagen.simple_table(2500, 10_000, seed=2)]
    urls = [module_raw.put(f"m{i}.parquet", t) for i, t in enumerate(files)]
    out = icepipe.convert(urls, table=module_table).ok().for_table(module_table)
    assert isinstance(out["snapshot_id"], int), out
    info = icepipe.table_info(module_table)
    table = catalog.load_table(module_table)
    meta = checks.read_json_object(s3, table.metadata_location)
    return {
        "out": out,
        "info": info,
        "table": table,
        "meta": meta,
        "snapshot": checks.snapshot_from_metadata(meta, out["snapshot_id"]),
        "rows": sum(t.num_rows for t in files),
    }


def test_tables_output_matches_catalog(committed):
    info, meta, table, out = committed["info"], committed["meta"], committed["table"], committed["out"]
    assert info["metadata_location"] == table.metadata_location
    snaps = {s["snapshot_id"]: s for s in info["snapshots"]}
    assert set(snaps) == {s["snapshot-id"] for s in meta["snapshots"]}, (info, meta["snapshots"])
    s = snaps[out["snapshot_id"]]
    m = committed["snapshot"]
    assert s["manifest_list"] == m["manifest-list"], (s, m)
    assert s["parent_snapshot_id"] == m.get("parent-snapshot-id")
    assert s["timestamp_ms"] == m["timestamp-ms"]
    assert s["operation"] == m["summary"]["operation"] == "append"
    strip = lambda d: {k: v for k, v in d.items() if k != "operation"}  # noqa: E731
    assert strip(s["summary"]) == strip(m["summary"])


def test_manifest_list_is_ours_not_repaired(committed):
    ml = committed["snapshot"]["manifest-list"]
    assert "repaired-" not in ml, f"the catalog rewrote our manifest list: {ml}"
    ours = [s["manifest_list"] for s in committed["info"]["snapshots"] if s["snapshot_id"] == committed["out"]["snapshot_id"]]
    assert ours == [ml], f"icepipe reported manifest list {ours}, the table metadata has {ml}"
    loc = committed["meta"]["location"].rstrip("/")
    assert ml.startswith(loc + "/"), f"manifest list {ml} outside the table location {loc}"


def test_manifest_list_avro(committed, s3):
    snap = committed["snapshot"]
    schema, meta, entries, _ = _read_avro(s3, snap["manifest-list"])
    problems = [f"manifest list: no field-id on {p}" for p in _fields_without_ids(schema)]
    fmt = committed["meta"]["format-version"]
    required = {"manifest_path", "manifest_length", "partition_spec_id", "added_snapshot_id", "partitions"}
    if fmt >= 2:
        required |= {"content", "sequence_number", "min_sequence_number", "added_files_count",
                     "existing_files_count", "deleted_files_count", "added_rows_count", "existing_rows_count",
                     "deleted_rows_count"}
    problems += _check_ids(schema, MANIFEST_LIST_IDS, required, "manifest list")
    partitions = _strip_null(_field(schema, "partitions")["type"])
    problems += _check_ids(_strip_null(partitions["items"]), FIELD_SUMMARY_IDS, {"contains_null", "lower_bound", "upper_bound"}, "field_summary")
    if partitions.get("element-id") != 508:
        problems.append(f"partitions element-id {partitions.get('element-id')}, expected 508")
    assert not problems, "\n".join(problems)

    if "snapshot-id" in meta:
        assert int(meta["snapshot-id"]) == snap["snapshot-id"], meta
    if "format-version" in meta:
        assert int(meta["format-version"]) == fmt, meta

    for e in entries:
        assert "repaired-" not in e["manifest_path"], e["manifest_path"]
        assert e["manifest_path"].startswith("s3://"), e["manifest_path"]
    added = [e for e in entries if e["added_snapshot_id"] == snap["snapshot-id"]]
    assert added, f"no manifest added by snapshot {snap['snapshot-id']}: {entries}"
    assert sum(e.get("added_rows_count") or 0 for e in added) == committed["rows"], added
    assert sum(e.get("added_files_count") or 0 for e in added) == committed["out"]["data_files"], added


def test_added_manifests_avro(committed, s3):
    snap = committed["snapshot"]
    table_meta = committed["meta"]
    _, _, ml_entries, _ = _read_avro(s3, snap["manifest-list"])
    added = [e for e in ml_entries if e["added_snapshot_id"] == snap["snapshot-id"]]
    data_files = []
    for e in added:
        schema, meta, entries, size = _read_avro(s3, e["manifest_path"])
        where = e["manifest_path"].rsplit("/", 1)[-1]
        assert e["manifest_length"] == size, f"{where}: manifest_length {e['manifest_length']} != size {size}"
        problems = [f"{where}: no field-id on {p}" for p in _fields_without_ids(schema)]
        problems += _check_ids(schema, MANIFEST_ENTRY_IDS, {"status", "snapshot_id", "data_file"}, where)
        df = _strip_null(_field(schema, "data_file")["type"])
        required = {"file_path", "file_format", "partition", "record_count", "file_size_in_bytes",
                    "value_counts", "null_value_counts", "lower_bounds", "upper_bounds"}
        if table_meta["format-version"] >= 2:
            required.add("content")
        problems += _check_ids(df, DATA_FILE_IDS, required, f"{where} data_file")
        for name, (kid, vid) in MAP_IDS.items():
            if name not in {f["name"] for f in df["fields"]}:
                continue
            arr = _strip_null(_field(df, name)["type"])
            kv = _strip_null(arr.get("items")) if isinstance(arr, dict) else None
            if not (isinstance(kv, dict) and kv.get("type") == "record"):
                problems.append(f"{where}: {name} is not an array of key/value records: {arr}")
                continue
            ids = {f["name"]: f.get("field-id") for f in kv["fields"]}
            if ids != {"key": kid, "value": vid}:
                problems.append(f"{where}: {name} key/value ids {ids}, expected {kid}/{vid}")
        part = _strip_null(_field(df, "partition")["type"])
        spec = next(s for s in table_meta["partition-specs"] if s["spec-id"] == e["partition_spec_id"])
        want = {pf["name"]: pf["field-id"] for pf in spec["fields"]}
        got = {f["name"]: f.get("field-id") for f in part["fields"]}
        if got != want:
            problems.append(f"{where}: partition struct {got}, spec says {want}")
        for key in ("schema", "partition-spec", "partition-spec-id", "format-version"):
            if key not in meta:
                problems.append(f"{where}: Avro metadata lacks {key!r} (has {sorted(meta)})")
        if table_meta["format-version"] >= 2 and meta.get("content") != "data":
            problems.append(f"{where}: Avro metadata content={meta.get('content')!r}, expected 'data'")
        assert not problems, "\n".join(problems)
        for entry in entries:
            assert entry["status"] == 1, f"{where}: entry status {entry['status']} in a new manifest (1 = ADDED)"
            data_files.append(entry["data_file"])

    assert sum(d["record_count"] for d in data_files) == committed["rows"]
    assert len(data_files) == committed["out"]["data_files"]
    schema_ids = {f["name"]: f["id"] for f in
                  next(s for s in table_meta["schemas"] if s["schema-id"] == table_meta["current-schema-id"])["fields"]}
    for d in data_files:
        assert d["file_format"].upper() == "PARQUET", d["file_format"]
        assert d["file_path"].startswith(table_meta["location"].rstrip("/") + "/"), d["file_path"]
        for name in ("value_counts", "null_value_counts", "lower_bounds", "upper_bounds", "column_sizes"):
            got_ids = {kv["key"] for kv in (d.get(name) or [])}
            assert schema_ids["id"] in got_ids, f"{name} has no entry for column id (field {schema_ids['id']}): {d.get(name)}"
        # the data file itself: exists with the recorded size, Parquet field ids, zstd
        data = checks.read_bytes(s3, d["file_path"])
        assert len(data) == d["file_size_in_bytes"], f"{d['file_path']}: {len(data)} bytes, manifest says {d['file_size_in_bytes']}"
        pf = pq.ParquetFile(io.BytesIO(data))
        assert pf.metadata.num_rows == d["record_count"]
        meta_ids = {}
        for field in pf.schema_arrow:
            fid = (field.metadata or {}).get(b"PARQUET:field_id")
            assert fid is not None, f"{d['file_path']}: Parquet column {field.name} has no field id"
            meta_ids[field.name] = int(fid)
        for name, fid in meta_ids.items():
            assert schema_ids.get(name) == fid, f"{d['file_path']}: {name} has field id {fid}, table says {schema_ids.get(name)}"
        codecs = {pf.metadata.row_group(r).column(c).compression for r in range(pf.metadata.num_row_groups)
                  for c in range(pf.metadata.num_columns)}
        assert codecs == {"ZSTD"}, f"{d['file_path']}: compression {codecs}, expected ZSTD"


def _codecs_of_snapshot(s3, table_meta: dict, snapshot_id: int) -> set[str]:
    """Parquet compression codecs of the data files a snapshot added."""
    snap = checks.snapshot_from_metadata(table_meta, snapshot_id)
    _, _, ml_entries, _ = _read_avro(s3, snap["manifest-list"])
    codecs = set()
    for e in ml_entries:
        if e["added_snapshot_id"] != snapshot_id:
            continue
        for entry in _read_avro(s3, e["manifest_path"])[2]:
            pf = pq.ParquetFile(io.BytesIO(checks.read_bytes(s3, entry["data_file"]["file_path"])))
            codecs |= {pf.metadata.row_group(r).column(c).compression
                       for r in range(pf.metadata.num_row_groups) for c in range(pf.metadata.num_columns)}
    return codecs


def test_the_table_compression_properties_are_honoured(icepipe, raw, new_table, catalog, s3):
    ident = new_table()
    first = icepipe.convert([raw.put("c0.parquet", datagen.simple_table(500, 0, seed=3))], table=ident).ok().for_table(ident)
    assert _codecs_of_snapshot(s3, checks.read_json_object(s3, catalog.load_table(ident).metadata_location),
                               first["snapshot_id"]) == {"ZSTD"}
    # An operator switches the table to snappy the way any Iceberg writer is tuned.
    with catalog.load_table(ident).transaction() as tx:
        tx.set_properties({"write.parquet.compression-codec": "snappy"})
    second = icepipe.convert([raw.put("c1.parquet", datagen.simple_table(500, 1000, seed=4))], table=ident).ok().for_table(ident)
    meta = checks.read_json_object(s3, catalog.load_table(ident).metadata_location)
    assert _codecs_of_snapshot(s3, meta, second["snapshot_id"]) == {"SNAPPY"}
    # A property no writer could honour fails the table with the property named; nothing is committed.
    with catalog.load_table(ident).transaction() as tx:
        tx.set_properties({"write.parquet.compression-codec": "lzo"})
    bad = icepipe.convert([raw.put("c2.parquet", datagen.simple_table(10, 5000, seed=5))], table=ident)
    assert bad.returncode == 1, bad.describe()
    assert "write.parquet.compression-codec" in bad.stderr + bad.stdout, bad.describe()
    assert catalog.load_table(ident).current_snapshot().snapshot_id == second["snapshot_id"]
