"""Reads an Iceberg table of the local stack with independent readers and compares it with source files.

  check_table.py TABLE [--expect FILE ...] [--count-only] [--expect-rows N]

Readers: PyIceberg (`scan().to_arrow()`) and DuckDB (`ATTACH ... (TYPE ICEBERG)` through the REST
catalog, extensions from the PyPI wheels, no network). With --expect, every reader must return exactly the
rows of the given Parquet files (same `id` set, per-column checksums of the source columns equal, no
duplicate ids), using tests/e2e/readers.py. With --count-only the readers only count rows and sum ids
(for tables too large to compare in memory).

Stack settings come from the environment (ICEPIPE_CATALOG_URI, ICEPIPE_WAREHOUSE, ICEPIPE_CATALOG_TOKEN or
ICEPIPE_CATALOG_CREDENTIAL,
ICEPIPE_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), as in .icepipe/stack.env.
Prints one JSON object: {"table", "ok", "problems", "rows": {reader: n}, "id_sum": {reader: s},
"snapshots", "current_snapshot_id"}. Exit 0 when ok, 1 when not, 2 on usage/setup errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import pyarrow.parquet as pq  # noqa: E402

import readers  # noqa: E402


@dataclass
class Stack:
    catalog_uri: str
    warehouse: str
    token: str | None
    credential: str | None
    s3_endpoint: str
    access_key: str
    secret_key: str
    region: str


def stack_from_env() -> Stack:
    e = os.environ
    try:
        if not e.get("ICEPIPE_CATALOG_TOKEN") and not e.get("ICEPIPE_CATALOG_CREDENTIAL"):
            raise KeyError("ICEPIPE_CATALOG_TOKEN or ICEPIPE_CATALOG_CREDENTIAL")
        return Stack(
            catalog_uri=e["ICEPIPE_CATALOG_URI"],
            warehouse=e["ICEPIPE_WAREHOUSE"],
            token=e.get("ICEPIPE_CATALOG_TOKEN") or None,
            credential=e.get("ICEPIPE_CATALOG_CREDENTIAL") or None,
            s3_endpoint=e["ICEPIPE_S3_ENDPOINT"],
            access_key=e["AWS_ACCESS_KEY_ID"],
            secret_key=e["AWS_SECRET_ACCESS_KEY"],
            region=e.get("AWS_REGION", "us-east-1"),
        )
    except KeyError as k:
        print(json.dumps({"ok": False, "problems": [f"environment variable {k} missing (source .icepipe/stack.env)"]}))
        sys.exit(2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--expect", nargs="*", default=[])
    ap.add_argument("--count-only", action="store_true")
    ap.add_argument("--expect-rows", type=int)
    args = ap.parse_args()

    stack = stack_from_env()
    out = {"table": args.table, "ok": False, "problems": [], "rows": {}, "id_sum": {}}
    catalog = readers.load_catalog(stack)
    table = catalog.load_table(args.table)
    meta = table.metadata
    out["snapshots"] = len(meta.snapshots)
    out["current_snapshot_id"] = meta.current_snapshot_id
    out["metadata_location"] = table.metadata_location

    if args.count_only:
        import pyarrow.compute as pc

        scanned = table.scan(selected_fields=("id",)).to_arrow()
        out["rows"]["pyiceberg"] = scanned.num_rows
        out["id_sum"]["pyiceberg"] = int(pc.sum(scanned.column("id")).as_py() or 0)
        out["distinct_ids"] = {"pyiceberg": len(pc.unique(scanned.column("id")))}
        del scanned
        con = readers.duckdb_connect(stack, attach=True)
        n, s, d = con.execute(
            f"SELECT count(*), coalesce(sum(id), 0), count(DISTINCT id) FROM {readers.duckdb_table_ref(args.table)}"
        ).fetchone()
        out["rows"]["duckdb"] = int(n)
        out["id_sum"]["duckdb"] = int(s)
        out["distinct_ids"]["duckdb"] = int(d)
        if out["rows"]["pyiceberg"] != out["rows"]["duckdb"] or out["id_sum"]["pyiceberg"] != out["id_sum"]["duckdb"]:
            out["problems"].append(f"readers disagree: rows {out['rows']}, id sums {out['id_sum']}")
        for reader, d in out["distinct_ids"].items():
            if d != out["rows"][reader]:
                out["problems"].append(f"{reader}: {out['rows'][reader]} rows but {d} distinct ids (duplicates)")
    else:
        got = {
            "pyiceberg": readers.read_pyiceberg(catalog, args.table),
            "duckdb": readers.read_duckdb_attach(stack, args.table),
        }
        for name, t in got.items():
            out["rows"][name] = t.num_rows
        if args.expect:
            sources = [pq.read_table(f) for f in args.expect]
            schema = sources[0].schema
            expected = readers.source_canonical(sources)
            for name, t in got.items():
                out["problems"].extend(readers.compare(name, t, schema, expected))
    if args.expect_rows is not None:
        for name, n in out["rows"].items():
            if n != args.expect_rows:
                out["problems"].append(f"{name}: {n} rows, expected {args.expect_rows}")
    out["ok"] = not out["problems"]
    print(json.dumps(out, default=str))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
