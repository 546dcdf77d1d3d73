"""PyIceberg peer of `icepipe convert`: raw Parquet files into a day-partitioned Iceberg table.

    pyiceberg_append.py --table NS.TABLE [--per-file] FILE...

Does what icepipe does to a raw file, the PyIceberg way: `pq.read_table`, add `_loaded_at`
(timestamptz, the file's mtime) and `_load_id`, create the table when missing (partitioned by
day(_loaded_at), in the same commit as the first append), `table.append`. All files in one append
(one snapshot), or with --per-file one append per file (a snapshot each). Prints one JSON line:
{"rows", "snapshots", "work_seconds"} (work_seconds: after the imports, i.e. without interpreter
start).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import load_catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.transforms import DayTransform

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.stack import catalog_properties, stack_env  # noqa: E402


def raw_table(path: str) -> pa.Table:
    t = pq.read_table(path)
    loaded_at = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.timezone.utc)
    n = t.num_rows
    t = t.append_column(pa.field("_loaded_at", pa.timestamp("us", tz="UTC")), pa.array([loaded_at] * n, pa.timestamp("us", tz="UTC")))
    return t.append_column(pa.field("_load_id", pa.string()), pa.array([Path(path).name] * n, pa.string()))


def append(catalog, ident: str, data: pa.Table) -> None:
    try:
        catalog.load_table(ident).append(data)
        return
    except NoSuchTableError:
        pass
    namespace = tuple(ident.split(".")[:-1])
    catalog.create_namespace_if_not_exists(namespace)
    txn = catalog.create_table_transaction(ident, schema=data.schema)
    with txn.update_spec() as spec:
        spec.add_field("_loaded_at", DayTransform(), "_loaded_at_day")
    txn.append(data)
    txn.commit_transaction()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("--per-file", action="store_true")
    p.add_argument("files", nargs="+")
    args = p.parse_args()

    start = time.perf_counter()
    catalog = load_catalog("peer", **catalog_properties(stack_env()))
    if args.per_file:
        rows = 0
        for f in args.files:
            t = raw_table(f)
            append(catalog, args.table, t)
            rows += t.num_rows
    else:
        t = pa.concat_tables([raw_table(f) for f in args.files])
        append(catalog, args.table, t)
        rows = t.num_rows
    seconds = time.perf_counter() - start
    snapshots = len(catalog.load_table(args.table).metadata.snapshots)
    print(json.dumps({"rows": rows, "snapshots": snapshots, "work_seconds": seconds}))


if __name__ == "__main__":
    main()
