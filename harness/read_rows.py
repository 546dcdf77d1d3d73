"""Reads chosen columns of an Iceberg table of the local stack with PyIceberg, DuckDB and polars.

  read_rows.py TABLE --columns id,n,n__v_double [--key id]

Prints one JSON object {"table", "readers": {reader: [[value, ...], ...]}} with each reader's rows
ordered by the key column; a column the table lacks reads as null. Values as JSON: integers stay
integers up to 2^53 and are their exact digits as a string beyond (JavaScript's JSON.parse would
round them), decimals as their exact text, floats as floats, timestamps as ISO text. The caller compares the readers with each other and with what it
sent. Stack settings come from the environment as for check_table.py. Exit 0, or 2 on
usage/setup errors.
"""

from __future__ import annotations

import argparse
import decimal
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "harness"))

import readers  # noqa: E402
from check_table import stack_from_env  # noqa: E402


def as_json(value):
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def rows(table, columns: list[str], key: str) -> list[list]:
    names = set(table.column_names)
    data = {c: table.column(c).to_pylist() if c in names else [None] * table.num_rows for c in columns}
    out = [[as_json(data[c][i]) for c in columns] for i in range(table.num_rows)]
    k = columns.index(key)
    return sorted(out, key=lambda r: (r[k] is None, r[k]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--columns", required=True)
    ap.add_argument("--key", default="id")
    args = ap.parse_args()
    columns = args.columns.split(",")
    if args.key not in columns:
        print(json.dumps({"ok": False, "problems": [f"--key {args.key} must be one of --columns"]}))
        return 2
    stack = stack_from_env()
    catalog = readers.load_catalog(stack)
    tables = {
        "pyiceberg": readers.read_pyiceberg(catalog, args.table),
        "duckdb": readers.read_duckdb_attach(stack, args.table),
        "polars": readers.read_polars(stack, catalog.load_table(args.table)),
    }
    print(json.dumps({"table": args.table, "readers": {r: rows(t, columns, args.key) for r, t in tables.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
