"""Checks that the Iceberg tables of an API source hold exactly the API's records.

  check_ingest.py --api URL --root NS [--source api_jsonplaceholder] [--resources posts,comments,users]

Fetches every record of each resource from the API itself (`?_page=N&_limit=1000` until an empty page) and
reads the tables `<root>.<source>.<resource>` with three independent readers, PyIceberg, DuckDB (ATTACH
through the REST catalog) and polars (`scan_iceberg`), using tests/e2e/readers.py. The API's current
state is what a table must hold: a record marked `"deleted": true` (posts are a merge resource with
`hard_delete = "deleted"` in config/sources.toml) must be absent. For every reader and table:
  - the set of `id`s equals the API's (deleted records left out), and no id is present twice;
  - the mapped columns (MAPPINGS) hold the API's values for every record, with the Arrow type the
    JSON normalization gives them (ISO-8601 strings as UTC timestamps, compared as instants; posts'
    `tags`, kept nested, as list<struct<name, weight>>);
  - a `deleted` column, when the table has one, marks no row.

Stack settings come from the environment as for check_table.py (`source .icepipe/stack.env`).
Prints one JSON object {"ok", "problems" (the first 20), "problem_count", "tables": {table: {reader: rows}}}.
Exit 0 when ok, 1 when not (a missing table is a problem), 2 on usage/setup errors (bad arguments, stack
settings missing, API or catalog unreachable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_table  # noqa: E402  (stack_from_env; it also puts tests/e2e on sys.path)
import readers  # noqa: E402

PAGE_LIMIT = 1000
MAX_PROBLEMS = 20
READERS = ("pyiceberg", "duckdb", "polars")
# The hard-delete marker of merge resources: marked records are deletes, not rows.
DELETED = "deleted"
TS = pa.timestamp("us", tz="UTC")


class SetupError(Exception):
    """Usage or environment problem: exit 2."""


@dataclass(frozen=True)
class Column:
    name: str  # column in the table
    path: tuple[str, ...]  # keys in the API record
    type: pa.DataType  # Arrow type the JSON normalization gives the values


def col(name: str, path: str, type_: pa.DataType = pa.string()) -> Column:
    return Column(name, tuple(path.split(".")), type_)


# Spelled out rather than derived, so that a change in the naming/flattening rules shows up here.
MAPPINGS: dict[str, list[Column]] = {
    "posts": [
        col("id", "id", pa.int64()),
        col("user_id", "userId", pa.int64()),
        col("title", "title"),
        col("body", "body"),
        col("updated_at", "updated_at", TS),
        # `nesting = "nested"` (a merge resource): one list<struct> column; weights are JSON numbers
        # with two decimals, so float64.
        col("tags", "tags", pa.list_(pa.struct([("name", pa.string()), ("weight", pa.float64())]))),
    ],
    "comments": [
        col("id", "id", pa.int64()),
        col("post_id", "postId", pa.int64()),
        col("name", "name"),
        col("email", "email"),
        col("body", "body"),
        col("updated_at", "updated_at", TS),
    ],
    "users": [
        col("id", "id", pa.int64()),
        col("name", "name"),
        col("username", "username"),
        col("email", "email"),
        col("address__city", "address.city"),
        # a JSON string in the API ("-37.3159"), so text, not a float
        col("address__geo__lat", "address.geo.lat"),
        col("company__name", "company.name"),
        col("updated_at", "updated_at", TS),
    ],
}


# --------------------------------------------------------------------------------------------------
# the API side


def _opener(url: str):
    # The local sample API is on loopback: do not send it through an HTTP proxy from the environment.
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def fetch_all(api: str, resource: str) -> list[dict]:
    """Every record of `resource`, page by page until an empty page."""
    opener, records, seen = _opener(api), [], set()
    page = 1
    while True:
        url = f"{api.rstrip('/')}/{resource}?_page={page}&_limit={PAGE_LIMIT}"
        try:
            with opener.open(url, timeout=60) as r:
                batch = json.load(r)
        except (OSError, ValueError) as e:
            raise SetupError(f"API: GET {url} failed: {e}") from None
        if not isinstance(batch, list):
            raise SetupError(f"API: GET {url} did not return a JSON array")
        if not batch:
            return records
        # An API that ignores _page would hand back the same page forever.
        keys = [json.dumps(r, sort_keys=True) for r in batch]
        if all(k in seen for k in keys):
            raise SetupError(f"API: GET {url} repeats the previous records (does it honour _page?)")
        seen.update(keys)
        records.extend(batch)
        page += 1


def _dig(record: dict, path: tuple[str, ...]):
    value = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _instant(value):
    """An ISO-8601 string as an aware UTC datetime (naive means UTC, as in the normalizer)."""
    if not isinstance(value, str):
        return value
    t = dt.datetime.fromisoformat(value)
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def expected_table(records: list[dict], columns: list[Column]) -> pa.Table:
    """The API's records as the table the mapped columns should hold."""
    arrays = {}
    for c in columns:
        values = [_dig(r, c.path) for r in records]
        if pa.types.is_timestamp(c.type):
            values = [_instant(v) for v in values]
        arrays[c.name] = pa.array(values, type=c.type)
    return pa.table(arrays)


# --------------------------------------------------------------------------------------------------
# comparisons (each returns a list of problems, empty when fine)


def check_ids(label: str, got: list, want: list) -> list[str]:
    """Same id set, no null and no duplicate ids."""
    problems = []
    if None in got:
        problems.append(f"{label}: {got.count(None)} rows with a null id")
    counts = defaultdict(int)
    for i in got:
        counts[i] += 1
    dups = sorted(i for i, n in counts.items() if n > 1 and i is not None)
    if dups:
        problems.append(f"{label}: {len(dups)} ids present more than once, e.g. {dups[:5]}")
    missing = sorted(set(want) - set(counts))
    extra = sorted(set(counts) - set(want) - {None})
    if missing:
        problems.append(f"{label}: {len(missing)} API ids missing, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{label}: {len(extra)} ids not in the API, e.g. {extra[:5]}")
    return problems


def check_values(label: str, reader: str, table: pa.Table, expected: pa.Table) -> list[str]:
    """Types and values of the mapped columns, record by record (readers.compare: per-column checksums
    over rows in id order, reporting the first differing record)."""
    want = readers.source_canonical([expected])
    return readers.compare(label, table, expected.schema, want, quirks=readers.READER_QUIRKS.get(reader))


def check_no_deleted(label: str, table: pa.Table) -> list[str]:
    """A table that has the hard-delete column holds no row it marks (a delete removes the row)."""
    if DELETED not in table.column_names:
        return []
    marked = [i for i, d in zip(table.column("id").to_pylist(), table.column(DELETED).to_pylist()) if d not in (None, False)]
    return [f"{label}: {len(marked)} rows marked {DELETED}, e.g. ids {marked[:5]}"] if marked else []


# --------------------------------------------------------------------------------------------------
# the table side


class Tables:
    """Reads tables with PyIceberg and DuckDB, one catalog and one DuckDB connection for all."""

    def __init__(self, stack):
        try:
            self.catalog = readers.load_catalog(stack)
            self.duck = readers.duckdb_connect(stack, attach=True)
        except Exception as e:  # noqa: BLE001 - any failure to reach the catalog is a setup error
            raise SetupError(f"catalog: cannot connect to {stack.catalog_uri}: {type(e).__name__}: {e}") from None
        self.stack = stack

    def exists(self, ident: str) -> bool:
        return self.catalog.table_exists(ident)

    def read(self, ident: str) -> tuple[dict[str, pa.Table], list[str]]:
        """{reader: table} for the readers that could read it, and problems for those that could not."""
        got, problems = {}, []
        read = {
            "pyiceberg": lambda: readers.read_pyiceberg(self.catalog, ident),
            "duckdb": lambda: readers.read_duckdb_attach(self.stack, ident, con=self.duck),
            "polars": lambda: readers.read_polars(self.stack, self.catalog.load_table(ident)),
        }
        for reader in READERS:
            try:
                got[reader] = read[reader]()
            except Exception as e:  # noqa: BLE001 - a reader failing on the table is a finding
                problems.append(f"{ident} [{reader}]: read failed: {type(e).__name__}: {e}")
        return got, problems


def current(records: list[dict]) -> list[dict]:
    """The records a table must hold: those not marked deleted."""
    return [r for r in records if r.get(DELETED) in (None, False)]


def check_resource(tables: Tables, ident: str, records: list[dict], columns: list[Column], out: dict) -> list[str]:
    """One resource's table against the API's current records, for every reader."""
    records = current(records)
    if not tables.exists(ident):
        return [f"{ident}: table missing (the API has {len(records)} records)"]
    got, problems = tables.read(ident)
    expected = expected_table(records, columns)
    want_ids = expected.column("id").to_pylist()
    for reader, table in got.items():
        out[ident][reader] = table.num_rows
        label = f"{ident} [{reader}]"
        if "id" not in table.column_names:
            problems.append(f"{label}: no id column (has {table.column_names})")
            continue
        id_problems = check_ids(label, table.column("id").to_pylist(), want_ids)
        # values are compared record by record only once the records are the same ones
        problems += id_problems or check_values(label, reader, table, expected)
        problems += check_no_deleted(label, table)
    return problems


# --------------------------------------------------------------------------------------------------


class JsonArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise SetupError(f"usage: {message}")


def parse_args(argv):
    ap = JsonArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", required=True, help="base URL of the API, e.g. http://127.0.0.1:8790")
    ap.add_argument("--root", required=True, help="namespace root the tables were converted under")
    ap.add_argument("--source", default="api_jsonplaceholder")
    ap.add_argument("--resources", default=",".join(MAPPINGS))
    args = ap.parse_args(argv)
    args.resources = [r.strip() for r in args.resources.split(",") if r.strip()]
    unknown = [r for r in args.resources if r not in MAPPINGS]
    if unknown or not args.resources:
        raise SetupError(f"usage: --resources must be some of {','.join(MAPPINGS)}, got {unknown or 'none'}")
    return args


def run(args) -> dict:
    stack = check_table.stack_from_env()  # prints its own JSON and exits 2 when settings are missing
    records = {r: fetch_all(args.api, r) for r in args.resources}
    tables = Tables(stack)
    out: dict[str, dict[str, int]] = {}
    problems = []
    for resource in args.resources:
        ident = f"{args.root}.{args.source}.{resource}"
        out[ident] = {}
        problems += check_resource(tables, ident, records[resource], MAPPINGS[resource], out)
    return {"ok": not problems, "problems": problems[:MAX_PROBLEMS], "problem_count": len(problems), "tables": out}


def main(argv=None) -> int:
    try:
        result = run(parse_args(argv))
    except SetupError as e:
        print(json.dumps({"ok": False, "problems": [str(e)], "problem_count": 1, "tables": {}}))
        return 2
    except Exception as e:  # noqa: BLE001 - e.g. the catalog going away mid-run: still one JSON object
        problem = f"error: {type(e).__name__}: {e}"
        print(json.dumps({"ok": False, "problems": [problem], "problem_count": 1, "tables": {}}))
        return 2
    print(json.dumps(result, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
