"""Appends rows to an Iceberg table with PyIceberg (a real snapshot commit), through whatever catalog
the arguments name: the rules layer's tests use it to commit through the layer.

  append.py CATALOG_URI TOKEN TABLE [--times N]

S3 settings come from the environment (ICEPIPE_S3_ENDPOINT, AWS_*), as in .icepipe/stack.env. Prints
one JSON object per append: {"ok": true, "snapshot_id": ...} or {"ok": false, "error": <exception
class>, "message": ...}. Exit 0 (the caller judges the outcomes).
"""

from __future__ import annotations

import argparse
import json
import os

import pyarrow as pa
from pyiceberg.catalog import load_catalog


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("token")
    ap.add_argument("table")
    ap.add_argument("--times", type=int, default=1)
    args = ap.parse_args()
    env = os.environ
    catalog = load_catalog(
        "r2-rules-test",
        type="rest",
        uri=args.uri,
        token=args.token,
        warehouse=env["ICEPIPE_WAREHOUSE"],
        **{
            "s3.endpoint": env["ICEPIPE_S3_ENDPOINT"],
            "s3.access-key-id": env["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": env["AWS_SECRET_ACCESS_KEY"],
            "s3.region": env.get("AWS_REGION", "us-east-1"),
        },
    )
    for i in range(args.times):
        try:
            table = catalog.load_table(args.table)
            table.append(pa.table({"id": pa.array([i], pa.int64())}))
            print(json.dumps({"ok": True, "snapshot_id": table.metadata.current_snapshot_id}), flush=True)
        except Exception as e:  # noqa: BLE001 - the outcome is the output
            print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
