"""Checks of the checksum machinery itself (no stack needed): the canonical form absorbs the Arrow type
differences readers legitimately show, and still catches changed values and lost types."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import datagen
import readers


@pytest.fixture(scope="module")
def source() -> pa.Table:
    return datagen.all_types_table(5, 400, 0)


def _replace(t: pa.Table, name: str, arr) -> pa.Table:
    return t.set_column(t.column_names.index(name), name, arr)


def _reader_like(t: pa.Table) -> pa.Table:
    """What a reader may hand back: large/small types swapped, uuid as text, map as list<struct<key,value>>,
    times in ns, zones renamed, ms/ns timestamps in us, dictionary decoded, ints widened, reversed row order."""
    out = t
    for name, typ in [
        ("c_string", pa.large_string()),
        ("c_large_string", pa.string()),
        ("c_binary", pa.large_binary()),
        ("c_large_binary", pa.binary()),
        ("c_int8", pa.int32()),
        ("c_uint32", pa.int64()),
        ("c_float32", pa.float64()),
        ("c_time_us", pa.time64("ns")),
        ("c_time_ms", pa.time64("us")),
        ("c_ts_ms", pa.timestamp("us")),
        ("c_ts_ns", pa.timestamp("us")),
        ("c_tstz_us", pa.timestamp("us", "Etc/UTC")),
        ("c_tstz_ns", pa.timestamp("us", "America/New_York")),
        ("c_dict_string", pa.string()),
        ("c_fixed8", pa.binary()),
        ("c_dec9_2", pa.decimal128(18, 2)),
    ]:
        out = _replace(out, name, out.column(name).cast(typ))
    uuids = [None if u is None else str(u) for u in t.column("c_uuid").to_pylist()]
    out = _replace(out, "c_uuid", pa.array(uuids, pa.string()))
    m = t.column("c_map").combine_chunks()
    as_list = pa.ListArray.from_arrays(m.offsets, pa.StructArray.from_arrays([m.keys, m.items], ["key", "value"]), mask=m.is_null())
    out = _replace(out, "c_map", as_list)
    return out.take(pa.array(range(out.num_rows - 1, -1, -1)))


def test_reader_variants_have_the_same_checksums(source):
    expected = readers.canonicalize(source, source.schema)
    variant = _reader_like(source)
    assert readers.compare("variant", variant, source.schema, expected) == []


def _first_non_null(t, name):
    return next(i for i, v in enumerate(t.column(name).to_pylist()) if v is not None)


@pytest.mark.parametrize(
    "mutation",
    ["value", "nested", "null_list_vs_empty", "neg_zero", "tz_dropped", "decimal_as_float", "duplicate_row", "map_value"],
)
def test_differences_are_caught(source, mutation):
    expected = readers.canonicalize(source, source.schema)
    t = source
    if mutation == "value":
        i = _first_non_null(t, "c_int64")
        vals = t.column("c_int64").to_pylist()
        vals[i] += 1
        t = _replace(t, "c_int64", pa.array(vals, pa.int64()))
    elif mutation == "nested":
        vals = t.column("c_struct").to_pylist()
        i = next(i for i, v in enumerate(vals) if v and v["inner"] and v["inner"]["y"] is not None)
        vals[i]["inner"]["y"] = None
        t = _replace(t, "c_struct", pa.array(vals, t.schema.field("c_struct").type))
    elif mutation == "null_list_vs_empty":
        vals = t.column("c_list_struct").to_pylist()
        vals[0] = []  # row 0 is null in every nullable column
        t = _replace(t, "c_list_struct", pa.array(vals, t.schema.field("c_list_struct").type))
    elif mutation == "neg_zero":
        vals = t.column("c_float64").to_pylist()
        vals[_first_non_null(t, "c_float64")] = -0.0
        vals[0] = 0.0
        t = _replace(t, "c_float64", pa.array(vals, pa.float64()))
        t2 = _replace(t, "c_float64", pc.if_else(pc.equal(t.column("c_float64"), 0.0), 0.0, t.column("c_float64")))
        assert readers.canonicalize(t, t.schema).checksum("c_float64") != readers.canonicalize(t2, t.schema).checksum("c_float64")
    elif mutation == "tz_dropped":
        t = _replace(t, "c_tstz_us", t.column("c_tstz_us").cast(pa.timestamp("us")))
    elif mutation == "decimal_as_float":
        t = _replace(t, "c_dec9_2", t.column("c_dec9_2").cast(pa.float64()))
    elif mutation == "duplicate_row":
        t = pa.concat_tables([t, t.slice(3, 1)])
    elif mutation == "map_value":
        vals = t.column("c_map").to_pylist()
        i = next(i for i, v in enumerate(vals) if v and v[0][1] is not None)
        vals[i] = [(vals[i][0][0], vals[i][0][1] + 1)] + vals[i][1:]
        t = _replace(t, "c_map", pa.array(vals, t.schema.field("c_map").type))
    problems = readers.compare("mutated", t, source.schema, expected)
    assert problems, f"mutation {mutation} went unnoticed"


def test_uuid_text_must_be_a_uuid(source):
    expected = readers.canonicalize(source, source.schema)
    bad = _replace(source, "c_uuid", pa.array(["x"] + [str(uuid.uuid4())] * (source.num_rows - 1)))
    assert readers.compare("mutated", bad, source.schema, expected)


def test_pyiceberg_quirk_is_limited(source):
    """The PyIceberg tolerance (NULL list<struct> read as []) applies to that reader and those types only."""
    expected = readers.canonicalize(source, source.schema)
    vals = source.column("c_list_struct").to_pylist()
    vals[0] = []
    t = _replace(source, "c_list_struct", pa.array(vals, source.schema.field("c_list_struct").type))
    assert readers.compare("pyiceberg", t, source.schema, expected) == []
    assert readers.compare("duckdb attach", t, source.schema, expected)
    vals = source.column("c_list_long").to_pylist()
    vals[0] = []
    t = _replace(source, "c_list_long", pa.array(vals, source.schema.field("c_list_long").type))
    assert readers.compare("pyiceberg", t, source.schema, expected)
