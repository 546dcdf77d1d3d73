"""Deterministic Parquet test data for the e2e suite.

`all_types_table(seed, n_rows, id_start)` builds one table with an `id` int64 column (never null, unique
across files when `id_start` differs) plus a column for every Arrow type that an Iceberg table can hold.
Every other column is nullable and has nulls (row 0 of each file is null in all of them); nested columns also have nulls inside them (null list
elements, null map values, null struct children, null structs, empty lists and maps).

`ALL_TYPE_COLUMNS` maps each column name to a short description of the Iceberg type it should become; the
readers module uses the source Arrow types themselves to canonicalize values.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

HAS_UUID_TYPE = hasattr(pa, "uuid")

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1)

# Column -> the Iceberg type the column is expected to map to (informational, used in messages).
ALL_TYPE_COLUMNS = {
    "c_int8": "int",
    "c_int16": "int",
    "c_int32": "int",
    "c_int64": "long",
    "c_uint8": "int",
    "c_uint16": "int",
    "c_uint32": "long",
    "c_float32": "float",
    "c_float64": "double",
    "c_dec9_2": "decimal(9,2)",
    "c_dec38_10": "decimal(38,10)",
    "c_bool": "boolean",
    "c_string": "string",
    "c_large_string": "string",
    "c_binary": "binary",
    "c_large_binary": "binary",
    "c_date": "date",
    "c_time_us": "time",
    "c_time_ms": "time",
    "c_ts_ms": "timestamp",
    "c_ts_us": "timestamp",
    "c_ts_ns": "timestamp (ns values are whole microseconds)",
    "c_tstz_ms": "timestamptz",
    "c_tstz_us": "timestamptz",
    "c_tstz_ns": "timestamptz (ns values are whole microseconds)",
    "c_uuid": "uuid",
    "c_fixed8": "fixed[8]",
    "c_struct": "struct<a:int,b:string,inner:struct<x:double,y:date>>",
    "c_list_long": "list<long>",
    "c_list_struct": "list<struct<k:string,v:int>>",
    "c_map": "map<string,long>",
    "c_dict_string": "string (dictionary-encoded in Parquet)",
}

STRUCT_INNER = pa.struct([pa.field("x", pa.float64()), pa.field("y", pa.date32())])
STRUCT_TYPE = pa.struct(
    [pa.field("a", pa.int32()), pa.field("b", pa.string()), pa.field("inner", STRUCT_INNER)]
)
LIST_STRUCT_ELEM = pa.struct([pa.field("k", pa.string()), pa.field("v", pa.int32())])

_WORDS = ["alpha", "beta", "gamma", "delta", "épsilon", "ζeta", "日本語", "", "with space", "tab\tand\nnewline"]
_DICT_WORDS = ["red", "green", "blue", "cyan", "magenta", "yellow", "black"]


def _maybe(rng: random.Random, value_fn, null_rate: float = 0.08):
    if rng.random() < null_rate:
        return None
    return value_fn()


def _ts(rng: random.Random) -> int:
    """Microseconds since the epoch, between 1900 and 2100."""
    lo = int((dt.datetime(1900, 1, 1) - EPOCH).total_seconds()) * 1_000_000
    hi = int((dt.datetime(2100, 1, 1) - EPOCH).total_seconds()) * 1_000_000
    return rng.randint(lo, hi)


def _float(rng: random.Random, special_rate: float = 0.02) -> float:
    r = rng.random()
    if r < special_rate:
        return rng.choice([float("nan"), float("inf"), float("-inf"), -0.0, 0.0])
    return rng.uniform(-1e6, 1e6)


def all_types_table(seed: int, n_rows: int, id_start: int = 0) -> pa.Table:
    rng = random.Random(seed)
    ids = list(range(id_start, id_start + n_rows))
    rng.shuffle(ids)  # rows are not in id order in the file: readers must be compared after sorting

    def col(fn, null_rate=0.08):
        values = [_maybe(rng, fn, null_rate) for _ in range(n_rows)]
        values[0] = None  # row 0: every nullable column is null
        return values

    cols: dict[str, pa.Array] = {}
    cols["id"] = pa.array(ids, pa.int64())
    cols["c_int8"] = pa.array(col(lambda: rng.randint(-128, 127)), pa.int8())
    cols["c_int16"] = pa.array(col(lambda: rng.randint(-32768, 32767)), pa.int16())
    cols["c_int32"] = pa.array(col(lambda: rng.randint(-(2**31), 2**31 - 1)), pa.int32())
    cols["c_int64"] = pa.array(col(lambda: rng.randint(-(2**63), 2**63 - 1)), pa.int64())
    cols["c_uint8"] = pa.array(col(lambda: rng.randint(0, 255)), pa.uint8())
    cols["c_uint16"] = pa.array(col(lambda: rng.randint(0, 65535)), pa.uint16())
    # full range: values above 2**31 only fit the widened (long) Iceberg column
    cols["c_uint32"] = pa.array(col(lambda: rng.randint(0, 2**32 - 1)), pa.uint32())
    cols["c_float32"] = pa.array(col(lambda: _float(rng)), pa.float32())
    cols["c_float64"] = pa.array(col(lambda: _float(rng)), pa.float64())
    cols["c_dec9_2"] = pa.array(
        col(lambda: Decimal(rng.randint(-(10**9) + 1, 10**9 - 1)).scaleb(-2)), pa.decimal128(9, 2)
    )
    cols["c_dec38_10"] = pa.array(
        col(lambda: Decimal(rng.randint(-(10**38) + 1, 10**38 - 1)).scaleb(-10)), pa.decimal128(38, 10)
    )
    cols["c_bool"] = pa.array(col(lambda: rng.random() < 0.5), pa.bool_())
    cols["c_string"] = pa.array(col(lambda: rng.choice(_WORDS) + str(rng.randint(0, 10**6))), pa.string())
    cols["c_large_string"] = pa.array(
        col(lambda: rng.choice(_WORDS) * rng.randint(0, 4)), pa.large_string()
    )
    cols["c_binary"] = pa.array(col(lambda: rng.randbytes(rng.randint(0, 24))), pa.binary())
    cols["c_large_binary"] = pa.array(col(lambda: rng.randbytes(rng.randint(0, 64))), pa.large_binary())
    cols["c_date"] = pa.array(col(lambda: rng.randint(-25_000, 50_000)), pa.date32())
    day_us = 86_400 * 1_000_000
    cols["c_time_us"] = pa.array(col(lambda: rng.randint(0, day_us - 1)), pa.time64("us"))
    cols["c_time_ms"] = pa.array(col(lambda: rng.randint(0, 86_400_000 - 1)), pa.time32("ms"))
    cols["c_ts_ms"] = pa.array(col(lambda: _ts(rng) // 1000), pa.timestamp("ms"))
    cols["c_ts_us"] = pa.array(col(lambda: _ts(rng)), pa.timestamp("us"))
    cols["c_ts_ns"] = pa.array(col(lambda: _ts(rng) * 1000), pa.timestamp("ns"))
    cols["c_tstz_ms"] = pa.array(col(lambda: _ts(rng) // 1000), pa.timestamp("ms", tz="UTC"))
    cols["c_tstz_us"] = pa.array(col(lambda: _ts(rng)), pa.timestamp("us", tz="UTC"))
    cols["c_tstz_ns"] = pa.array(col(lambda: _ts(rng) * 1000), pa.timestamp("ns", tz="UTC"))
    uuids = col(lambda: uuid.UUID(int=rng.getrandbits(128), version=4).bytes)
    if HAS_UUID_TYPE:
        cols["c_uuid"] = pa.array(uuids, pa.uuid())
    else:  # pragma: no cover - old pyarrow
        cols["c_uuid"] = pa.array(uuids, pa.binary(16))
    cols["c_fixed8"] = pa.array(col(lambda: rng.randbytes(8)), pa.binary(8))

    def struct_value():
        return {
            "a": _maybe(rng, lambda: rng.randint(-1000, 1000), 0.1),
            "b": _maybe(rng, lambda: rng.choice(_WORDS), 0.1),
            "inner": _maybe(
                rng,
                lambda: {
                    "x": _maybe(rng, lambda: _float(rng), 0.1),
                    "y": _maybe(rng, lambda: dt.date(1970, 1, 1) + dt.timedelta(days=rng.randint(-9000, 20000)), 0.1),
                },
                0.15,
            ),
        }

    cols["c_struct"] = pa.array(col(struct_value), STRUCT_TYPE)
    cols["c_list_long"] = pa.array(
        col(lambda: [_maybe(rng, lambda: rng.randint(-(2**40), 2**40), 0.1) for _ in range(rng.randint(0, 6))]),
        pa.list_(pa.int64()),
    )
    cols["c_list_struct"] = pa.array(
        col(
            lambda: [
                _maybe(
                    rng,
                    lambda: {
                        "k": _maybe(rng, lambda: rng.choice(_WORDS), 0.1),
                        "v": _maybe(rng, lambda: rng.randint(-500, 500), 0.1),
                    },
                    0.1,
                )
                for _ in range(rng.randint(0, 4))
            ]
        ),
        pa.list_(LIST_STRUCT_ELEM),
    )

    def map_value():
        keys = rng.sample(["k0", "k1", "k2", "k3", "k4", "kë", "k日"], rng.randint(0, 4))
        return [(k, _maybe(rng, lambda: rng.randint(-(2**50), 2**50), 0.15)) for k in keys]

    cols["c_map"] = pa.array(col(map_value), pa.map_(pa.string(), pa.int64()))
    cols["c_dict_string"] = pa.array(col(lambda: rng.choice(_DICT_WORDS)), pa.string()).dictionary_encode()

    return pa.table(cols)


def write_parquet(table: pa.Table, where, **kwargs) -> None:
    """Write with pyarrow defaults that keep every type (ns timestamps, uuid, dictionary)."""
    opts = dict(version="2.6", compression="snappy", use_dictionary=True, store_schema=True)
    opts.update(kwargs)
    pq.write_table(table, where, **opts)


def parquet_bytes(table: pa.Table, **kwargs) -> bytes:
    buf = io.BytesIO()
    write_parquet(table, buf, **kwargs)
    return buf.getvalue()


def simple_table(n_rows: int, id_start: int = 0, seed: int = 0, extra: dict | None = None) -> pa.Table:
    """A small table for the tests that are about bookkeeping rather than types."""
    rng = random.Random(seed)
    cols = {
        "id": pa.array(range(id_start, id_start + n_rows), pa.int64()),
        "name": pa.array([f"row-{i}" for i in range(id_start, id_start + n_rows)], pa.string()),
        "value": pa.array([rng.random() for _ in range(n_rows)], pa.float64()),
    }
    for k, v in (extra or {}).items():
        cols[k] = v
    return pa.table(cols)
