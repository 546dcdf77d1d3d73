"""Independent readers of Iceberg tables and reader-independent column checksums.

Readers (each returns a pyarrow.Table):
  - `read_pyiceberg(catalog, ident)`            PyIceberg `scan().to_arrow()`
  - `read_duckdb_scan(stack, metadata_location)` DuckDB `iceberg_scan('<metadata.json>')`
  - `read_duckdb_attach(stack, ident)`           DuckDB `ATTACH ... (TYPE ICEBERG)` through the REST catalog
  - `read_polars(stack, iceberg_table)`          polars `scan_iceberg(table, storage_options=...)`

Canonical form: every value is turned into a JSON-able value that does not depend on the Arrow type a
reader chose, driven by the *source* Arrow type (the type in the raw Parquet file):
  integers -> int; floats -> repr(float) ('nan', 'inf', '-0.0' kept); decimals -> normalized plain string;
  bool -> bool; strings (any width, dictionary) -> str; binary/fixed -> hex; uuid -> 32 hex digits;
  dates -> ISO string; times -> microseconds since midnight; naive timestamps -> microseconds since the
  epoch; timestamps with a zone -> UTC microseconds since the epoch; structs -> dict by field name;
  lists -> list; maps -> list of [key, value] pairs sorted by key.
Rows are ordered by the `id` column before hashing. The reader's Arrow type must still belong to the same
family as the source type (`type_problem`): e.g. a timestamp with a zone read back without one, a decimal
read back as a float, or a uuid read back as arbitrary text is reported, not normalized away.

Reader quirks normalized here (seen with pyiceberg 0.12.0, duckdb 1.5.5, polars 2.1, pyarrow 26):
  - DuckDB returns uuid columns as strings ('xxxxxxxx-xxxx-...'), fixed[N] as binary, large types as small,
    timestamptz with the session zone name (e.g. 'Etc/UTC'), list children named 'l'.
  - polars returns strings/binary/lists as large_*, fixed and uuid as large_binary, times as time64[ns].
  - PyIceberg returns uuid as the arrow.uuid extension type, list children named 'element'.
  - PyIceberg returns [] for a NULL list<struct> / map<_, struct> (see READER_QUIRKS): tolerated for
    PyIceberg only, the other readers must keep the null.
  - pyarrow's to_pylist() of ns timestamps gives pandas Timestamps when pandas is installed and raises on
    sub-microsecond values when it is not: top-level time/timestamp columns are turned into integer
    microseconds in Arrow (exactly; a sub-microsecond remainder is reported) before canonicalization.
  - pa.uuid() is a pa.BaseExtensionType, not a pa.ExtensionType (the Python-subclassable one).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import os
import uuid as uuidlib
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH_NAIVE = dt.datetime(1970, 1, 1)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

_UNIT_TO_US = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


# --------------------------------------------------------------------------------------------------
# type helpers


def is_uuid_type(t: pa.DataType) -> bool:
    return isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.uuid"


def storage_type(t: pa.DataType) -> pa.DataType:
    if is_uuid_type(t):
        return t
    if isinstance(t, pa.BaseExtensionType):
        return t.storage_type
    return t


def _is_stringish(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_binaryish(t: pa.DataType) -> bool:
    return (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    )


def _is_listish(t: pa.DataType) -> bool:
    return (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _map_as_list(t: pa.DataType) -> bool:
    """list<struct<key, value>> is how some readers hand maps back."""
    if not _is_listish(t):
        return False
    vt = t.value_type
    return pa.types.is_struct(vt) and vt.num_fields == 2 and {vt.field(i).name for i in range(2)} == {"key", "value"}


def type_problem(expected: pa.DataType, actual: pa.DataType, path: str = "") -> str | None:
    """None when `actual` (a reader's type) is in the same family as `expected` (the source's type)."""
    e, a = storage_type(expected), storage_type(actual)
    if pa.types.is_dictionary(e):
        e = e.value_type
    if pa.types.is_dictionary(a):
        a = a.value_type
    where = path or "<column>"

    def bad(msg=""):
        return f"{where}: source type {expected} read back as {actual}{(' (' + msg + ')') if msg else ''}"

    if is_uuid_type(e) or (pa.types.is_fixed_size_binary(e) and e.byte_width == 16 and path.endswith("uuid")):
        if is_uuid_type(a) or _is_stringish(a) or (_is_binaryish(a) and not pa.types.is_fixed_size_binary(a)):
            return None
        if pa.types.is_fixed_size_binary(a) and a.byte_width == 16:
            return None
        return bad()
    if pa.types.is_integer(e):
        return None if pa.types.is_integer(a) else bad()
    if pa.types.is_floating(e):
        if not pa.types.is_floating(a):
            return bad()
        if a.bit_width < e.bit_width:
            return bad("narrowed")
        return None
    if pa.types.is_decimal(e):
        if not pa.types.is_decimal(a):
            return bad()
        if a.scale != e.scale or a.precision < e.precision:
            return bad("precision/scale")
        return None
    if pa.types.is_boolean(e):
        return None if pa.types.is_boolean(a) else bad()
    if _is_stringish(e):
        return None if _is_stringish(a) else bad()
    if pa.types.is_fixed_size_binary(e):
        if pa.types.is_fixed_size_binary(a):
            return None if a.byte_width == e.byte_width else bad("width")
        return None if _is_binaryish(a) else bad()
    if _is_binaryish(e):
        return None if _is_binaryish(a) and not pa.types.is_fixed_size_binary(a) else bad()
    if pa.types.is_date(e):
        return None if pa.types.is_date(a) else bad()
    if pa.types.is_time(e):
        return None if pa.types.is_time(a) else bad()
    if pa.types.is_timestamp(e):
        if not pa.types.is_timestamp(a):
            return bad()
        if (e.tz is None) != (a.tz is None):
            return bad("time zone presence differs")
        return None
    if pa.types.is_struct(e):
        if not pa.types.is_struct(a):
            return bad()
        anames = {a.field(i).name: a.field(i).type for i in range(a.num_fields)}
        enames = [e.field(i).name for i in range(e.num_fields)]
        if set(anames) != set(enames):
            return bad(f"fields {sorted(anames)} != {sorted(enames)}")
        for i in range(e.num_fields):
            p = type_problem(e.field(i).type, anames[e.field(i).name], f"{where}.{e.field(i).name}")
            if p:
                return p
        return None
    if pa.types.is_map(e):
        if pa.types.is_map(a):
            return type_problem(e.key_type, a.key_type, f"{where}.key") or type_problem(
                e.item_type, a.item_type, f"{where}.value"
            )
        if _map_as_list(a):
            vt = a.value_type
            return type_problem(e.key_type, vt.field("key").type, f"{where}.key") or type_problem(
                e.item_type, vt.field("value").type, f"{where}.value"
            )
        return bad()
    if _is_listish(e):
        if not _is_listish(a):
            return bad()
        return type_problem(e.value_type, a.value_type, f"{where}[]")
    return bad("unhandled source type")


# --------------------------------------------------------------------------------------------------
# canonical values


class CanonError(AssertionError):
    pass


def _canon_float(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v)
    raise CanonError(f"float expected, got {type(v).__name__}: {v!r}")


def _canon_decimal(v):
    if not isinstance(v, decimal.Decimal):
        raise CanonError(f"Decimal expected, got {type(v).__name__}: {v!r}")
    if v == 0:
        return "0"
    return format(v.normalize(), "f")


def _canon_bytes(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    raise CanonError(f"bytes expected, got {type(v).__name__}: {v!r}")


def _canon_uuid(v):
    if isinstance(v, uuidlib.UUID):
        return v.hex
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        if len(b) != 16:
            raise CanonError(f"uuid of {len(b)} bytes: {b.hex()}")
        return b.hex()
    if isinstance(v, str):
        try:
            return uuidlib.UUID(v).hex
        except ValueError:
            raise CanonError(f"not a uuid: {v!r}") from None
    raise CanonError(f"uuid expected, got {type(v).__name__}: {v!r}")


def _canon_time_obj(v):
    if isinstance(v, int):
        return v
    if isinstance(v, dt.time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
    raise CanonError(f"time expected, got {type(v).__name__}: {v!r}")


def _canon_ts_obj(v, tz_expected: bool):
    if isinstance(v, int):
        return v
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            if tz_expected:
                raise CanonError(f"naive datetime {v!r} where a zone was expected")
            delta = v - EPOCH_NAIVE
        else:
            if not tz_expected:
                raise CanonError(f"zoned datetime {v!r} where a naive one was expected")
            delta = v - EPOCH_UTC
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise CanonError(f"datetime expected, got {type(v).__name__}: {v!r}")


def _map_items(v):
    if isinstance(v, dict):
        return list(v.items())
    out = []
    for item in v:
        if isinstance(item, dict):
            out.append((item["key"], item["value"]))
        else:
            k, val = item
            out.append((k, val))
    return out


def canon(v, t: pa.DataType, path: str = ""):
    """Canonical, JSON-able form of a Python value `v` whose source Arrow type is `t`."""
    if v is None:
        return None
    if is_uuid_type(t):
        return _canon_uuid(v)
    t = storage_type(t)
    if pa.types.is_dictionary(t):
        return canon(v, t.value_type, path)
    if pa.types.is_boolean(t):
        if not isinstance(v, bool):
            raise CanonError(f"{path}: bool expected, got {v!r}")
        return v
    if pa.types.is_integer(t):
        if isinstance(v, bool) or not isinstance(v, int):
            raise CanonError(f"{path}: int expected, got {v!r}")
        return v
    if pa.types.is_floating(t):
        return _canon_float(v)
    if pa.types.is_decimal(t):
        return _canon_decimal(v)
    if _is_stringish(t):
        if not isinstance(v, str):
            raise CanonError(f"{path}: str expected, got {v!r}")
        return v
    if pa.types.is_fixed_size_binary(t) and t.byte_width == 16 and path.endswith("uuid"):
        return _canon_uuid(v)
    if _is_binaryish(t):
        return _canon_bytes(v)
    if pa.types.is_date(t):
        if isinstance(v, dt.datetime):
            raise CanonError(f"{path}: date expected, got datetime {v!r}")
        if isinstance(v, int):
            v = EPOCH_DATE + dt.timedelta(days=v)
        return v.isoformat()
    if pa.types.is_time(t):
        return _canon_time_obj(v)
    if pa.types.is_timestamp(t):
        return _canon_ts_obj(v, t.tz is not None)
    if pa.types.is_struct(t):
        if not isinstance(v, dict):
            raise CanonError(f"{path}: struct expected, got {v!r}")
        names = [t.field(i).name for i in range(t.num_fields)]
        if set(v) != set(names):
            raise CanonError(f"{path}: struct fields {sorted(v)} != {sorted(names)}")
        return {n: canon(v[n], t.field(n).type, f"{path}.{n}") for n in names}
    if pa.types.is_map(t):
        pairs = [[canon(k, t.key_type, path + ".key"), canon(x, t.item_type, path + ".value")] for k, x in _map_items(v)]
        pairs.sort(key=lambda p: json.dumps(p[0], sort_keys=True))
        return pairs
    if _is_listish(t):
        return [canon(x, t.value_type, path + "[]") for x in v]
    raise CanonError(f"{path}: unhandled source type {t}")


def _temporal_to_ints(arr: pa.ChunkedArray | pa.Array) -> list | None:
    """Top-level temporal columns as ints (micros), done in Arrow: pyarrow cannot make Python objects of ns
    values without pandas. Returns None for other types."""
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_time(t):
        ints = arr.cast(pa.int64() if t.bit_width == 64 else pa.int32()).cast(pa.int64())
        if t.unit == "ns":
            rem = pc.fill_null(pc.not_equal(pc.subtract(ints, pc.multiply(pc.divide(ints, 1000), 1000)), 0), False)
            if pc.any(rem).as_py():
                raise CanonError(f"{t} values are not whole microseconds")
            ints = pc.divide(ints, 1000)  # exact: checked above
        else:
            ints = pc.multiply(ints, _UNIT_TO_US[t.unit])
        return ints.to_pylist()
    return None


def column_values(arr, source_type: pa.DataType, name: str) -> list:
    ints = _temporal_to_ints(arr)
    if ints is not None:
        if pa.types.is_timestamp(source_type) != pa.types.is_timestamp(arr.type):
            raise CanonError(f"{name}: source type {source_type} read back as {arr.type}")
        return ints
    return [canon(v, source_type, name) for v in arr.to_pylist()]


# --------------------------------------------------------------------------------------------------
# comparing a reader's table with the source


@dataclass
class Canonical:
    """Canonical values per column, rows in `id` order."""

    ids: list
    columns: dict[str, list] = field(default_factory=dict)

    def __repr__(self):
        return f"Canonical({len(self.ids)} rows, columns {list(self.columns)})"

    def checksum(self, name: str) -> str:
        data = json.dumps(self.columns[name], sort_keys=True, ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(data.encode()).hexdigest()

    def checksums(self) -> dict[str, str]:
        return {n: self.checksum(n) for n in self.columns}


def canonicalize(table: pa.Table, source_schema: pa.Schema, columns=None, key: str = "id") -> Canonical:
    """`table` (anything a reader returned) in canonical form for `columns` (default: the source's)."""
    columns = list(columns or source_schema.names)
    ids = table.column(key).to_pylist()
    if None in ids:
        raise CanonError(f"null {key}")
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:10] if len(ids) < 50_000 else "?"
        raise CanonError(f"duplicate {key} values (rows present more than once), e.g. {dup}")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    out = Canonical(ids=[ids[i] for i in order])
    for name in columns:
        if name not in table.column_names:
            raise CanonError(f"column {name} missing; reader returned {table.column_names}")
        values = column_values(table.column(name), source_schema.field(name).type, name)
        out.columns[name] = [values[i] for i in order]
    return out


def source_canonical(tables: list[pa.Table], key: str = "id") -> Canonical:
    """Canonical form of the source files (read with pyarrow), concatenated."""
    schema = tables[0].schema
    unified = pa.concat_tables([t.cast(schema) if t.schema != schema else t for t in tables])
    return canonicalize(unified, schema, key=key)


# Known reader bugs that the comparison must tolerate for that reader only (on both sides, so the reader is
# still checked for everything else):
#   null_struct_list_as_empty: PyIceberg 0.12 returns an empty list for a NULL list<struct> or map<_, struct>
#   (ArrowProjectionVisitor.list rebuilds the array with LargeListArray.from_arrays(offsets, values) and
#   drops the validity bitmap; it does the same when writing, so PyIceberg-written tables lose those nulls).
READER_QUIRKS = {"pyiceberg": {"null_struct_list_as_empty"}}


def _nested_struct_list(t: pa.DataType) -> bool:
    t = storage_type(t)
    if pa.types.is_map(t):
        return pa.types.is_struct(storage_type(t.item_type))
    return _is_listish(t) and pa.types.is_struct(storage_type(t.value_type))


def _empty_for_null(v, t: pa.DataType):
    """Canonical value `v` (of source type `t`) with NULL list<struct>/map<_, struct> turned into []."""
    t = storage_type(t)
    if pa.types.is_dictionary(t):
        t = t.value_type
    if v is None:
        return [] if _nested_struct_list(t) else None
    if pa.types.is_struct(t):
        return {n: _empty_for_null(x, t.field(n).type) for n, x in v.items()}
    if pa.types.is_map(t):
        return [[_empty_for_null(k, t.key_type), _empty_for_null(x, t.item_type)] for k, x in v]
    if _is_listish(t):
        return [_empty_for_null(x, t.value_type) for x in v]
    return v


def apply_quirks(c: Canonical, source: pa.Schema, quirks) -> Canonical:
    if "null_struct_list_as_empty" not in (quirks or ()):
        return c
    out = Canonical(ids=c.ids)
    for name, values in c.columns.items():
        t = source.field(name).type
        out.columns[name] = [_empty_for_null(v, t) for v in values]
    return out


def compare(reader: str, table: pa.Table, source: pa.Schema, expected: Canonical, key: str = "id", quirks=None) -> list[str]:
    """Problems (empty when the reader's table matches): row count, types, per-column checksums.
    `quirks` defaults to READER_QUIRKS[reader]."""
    if quirks is None:
        quirks = READER_QUIRKS.get(reader, set())
    expected = apply_quirks(expected, source, quirks)
    problems = []
    if table.num_rows != len(expected.ids):
        problems.append(f"{reader}: {table.num_rows} rows, expected {len(expected.ids)}")
    for name in expected.columns:
        if name not in table.column_names:
            problems.append(f"{reader}: column {name} missing (has {table.column_names})")
            continue
        tp = type_problem(source.field(name).type, table.schema.field(name).type, name)
        if tp:
            problems.append(f"{reader}: {tp}")
    if problems:
        return problems
    try:
        got = apply_quirks(canonicalize(table, source, list(expected.columns), key=key), source, quirks)
    except Exception as e:  # noqa: BLE001 - any failure to canonicalize is a difference
        return [f"{reader}: {type(e).__name__}: {e}"]
    if got.ids != expected.ids:
        missing = sorted(set(expected.ids) - set(got.ids))[:5]
        extra = sorted(set(got.ids) - set(expected.ids))[:5]
        return [f"{reader}: id sets differ (missing e.g. {missing}, unexpected e.g. {extra})"]
    for name in expected.columns:
        if got.checksum(name) != expected.checksum(name):
            first = next(i for i, (a, b) in enumerate(zip(got.columns[name], expected.columns[name])) if a != b)
            problems.append(
                f"{reader}: column {name} checksum differs; first at id={expected.ids[first]}: "
                f"got {got.columns[name][first]!r}, expected {expected.columns[name][first]!r}"
            )
    return problems


# --------------------------------------------------------------------------------------------------
# readers


def _token_endpoint(stack) -> str:
    return stack.catalog_uri.rstrip("/") + "/v1/oauth/tokens"


def catalog_properties(stack) -> dict:
    # The static token when the stack has one (the R2 rules layer: R2 Data Catalog has no OAuth
    # endpoint), else OAuth2 client credentials.
    auth = {"token": stack.token} if stack.token else {"credential": stack.credential, "oauth2-server-uri": _token_endpoint(stack)}
    return {
        "type": "rest",
        "uri": stack.catalog_uri,
        "warehouse": stack.warehouse,
        **auth,
        "s3.endpoint": stack.s3_endpoint,
        "s3.access-key-id": stack.access_key,
        "s3.secret-access-key": stack.secret_key,
        "s3.region": stack.region,
    }


def load_catalog(stack):
    from pyiceberg.catalog import load_catalog as _load

    return _load("icepipe-e2e", **catalog_properties(stack))


def read_pyiceberg(catalog, ident: str) -> pa.Table:
    return catalog.load_table(ident).scan().to_arrow()


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _sql_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def duckdb_connect(stack, attach: bool = False):
    """A DuckDB connection with httpfs, avro and iceberg loaded from the PyPI extension wheels (no network),
    an S3 secret for the stack, and, with attach=True, the REST catalog attached as `ice`."""
    import duckdb
    import duckdb_extensions

    con = duckdb.connect()
    for ext in ("httpfs", "avro", "iceberg"):
        duckdb_extensions.import_extension(ext, con=con)
        con.execute(f"LOAD {ext}")
    con.execute("SET TimeZone = 'UTC'")
    endpoint = stack.s3_endpoint.split("://", 1)[-1].rstrip("/")
    use_ssl = "true" if stack.s3_endpoint.startswith("https://") else "false"
    con.execute(
        f"CREATE SECRET e2e_s3 (TYPE S3, KEY_ID {_sql_str(stack.access_key)}, SECRET {_sql_str(stack.secret_key)}, "
        f"REGION {_sql_str(stack.region)}, ENDPOINT {_sql_str(endpoint)}, URL_STYLE 'path', USE_SSL {use_ssl})"
    )
    if attach:
        if stack.token:
            auth = f"TOKEN {_sql_str(stack.token)}"
        else:
            client_id, client_secret = stack.credential.split(":", 1)
            auth = (
                f"CLIENT_ID {_sql_str(client_id)}, CLIENT_SECRET {_sql_str(client_secret)}, "
                f"OAUTH2_SERVER_URI {_sql_str(_token_endpoint(stack))}"
            )
        con.execute(f"CREATE SECRET e2e_ice (TYPE ICEBERG, {auth})")
        con.execute(
            f"ATTACH {_sql_str(stack.warehouse)} AS ice (TYPE ICEBERG, "
            f"ENDPOINT {_sql_str(stack.catalog_uri)}, SECRET e2e_ice)"
        )
    return con


def _duck_arrow(rel) -> pa.Table:
    if hasattr(rel, "to_arrow_table"):
        return rel.to_arrow_table()
    return rel.fetch_arrow_table()


def read_duckdb_scan(stack, metadata_location: str, con=None) -> pa.Table:
    con = con or duckdb_connect(stack)
    return _duck_arrow(con.execute(f"SELECT * FROM iceberg_scan({_sql_str(metadata_location)})"))


def duckdb_table_ref(ident: str) -> str:
    """`ns1.ns2.table` -> ice."ns1.ns2"."table" (DuckDB shows a multi-level namespace as one schema)."""
    ns, _, name = ident.rpartition(".")
    return f"ice.{_sql_ident(ns)}.{_sql_ident(name)}"


def read_duckdb_attach(stack, ident: str, con=None) -> pa.Table:
    con = con or duckdb_connect(stack, attach=True)
    return _duck_arrow(con.execute(f"SELECT * FROM {duckdb_table_ref(ident)}"))


def duckdb_count(stack, ident: str | None = None, metadata_location: str | None = None) -> int:
    if ident is not None:
        con = duckdb_connect(stack, attach=True)
        return con.execute(f"SELECT count(*) FROM {duckdb_table_ref(ident)}").fetchone()[0]
    con = duckdb_connect(stack)
    return con.execute(f"SELECT count(*) FROM iceberg_scan({_sql_str(metadata_location)})").fetchone()[0]


def read_polars(stack, iceberg_table) -> pa.Table:
    import polars as pl

    import importlib.util

    if importlib.util.find_spec("polars_iceberg") is None:
        # without the polars-iceberg planner plugin polars warns and plans through PyIceberg
        os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")
    storage = {k: v for k, v in catalog_properties(stack).items() if k.startswith("s3.")}
    return pl.scan_iceberg(iceberg_table, storage_options=storage).collect().to_arrow()


def all_readers(stack, catalog, ident: str) -> dict[str, pa.Table]:
    """The table as read by every independent reader (PyIceberg, DuckDB x2, polars)."""
    table = catalog.load_table(ident)
    return {
        "pyiceberg": table.scan().to_arrow(),
        "duckdb iceberg_scan": read_duckdb_scan(stack, table.metadata_location),
        "duckdb attach": read_duckdb_attach(stack, ident),
        "polars": read_polars(stack, table),
    }
