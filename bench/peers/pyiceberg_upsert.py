"""PyIceberg peer of an icepipe merge: one file of changed rows (updates, and deletes where the
`deleted` column is true) into a table made by pyiceberg_append.py.

    pyiceberg_upsert.py --table NS.TABLE CHANGES.parquet

The PyIceberg way: `table.delete(In("id", deleted ids))`, then `table.upsert(rows, join_cols=["id"])`
(PyIceberg's upsert has no delete marker and no version ordering: arrival order decides). Prints
one JSON line: {"updated", "inserted", "deleted", "work_seconds"}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import load_catalog
from pyiceberg.expressions import In

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib.stack import catalog_properties, stack_env  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("changes")
    args = p.parse_args()

    start = time.perf_counter()
    catalog = load_catalog("peer", **catalog_properties(stack_env()))
    table = catalog.load_table(args.table)
    changes = pq.read_table(args.changes).replace_schema_metadata(None)
    deleted = changes.filter(pc.field("deleted"))
    upserts = changes.filter(~pc.field("deleted"))
    if deleted.num_rows:
        table.delete(In("id", deleted.column("id").to_pylist()))
    n = upserts.num_rows
    now = dt.datetime.now(dt.timezone.utc)
    upserts = upserts.append_column(pa.field("_loaded_at", pa.timestamp("us", tz="UTC")), pa.array([now] * n, pa.timestamp("us", tz="UTC")))
    upserts = upserts.append_column(pa.field("_load_id", pa.string()), pa.array([Path(args.changes).name] * n, pa.string()))
    result = table.upsert(upserts, join_cols=["id"])
    seconds = time.perf_counter() - start
    print(json.dumps({"updated": result.rows_updated, "inserted": result.rows_inserted, "deleted": deleted.num_rows, "work_seconds": seconds}))


if __name__ == "__main__":
    main()
