"""Test Parquet files for the Worker harness (pyarrow, deterministic).

  gen_parquet.py < spec.json

spec: a JSON list of {"out": path, "rows": n, "id_start": k, "seed": s (optional), "kind": "events"|"wide"|
"poisoned"|"merge", "columns": c (wide only), "row_group_rows": r (optional)}. "merge": "rows" is a list of
[id, version, deleted] (columns id, name, version, deleted), written with a merge footer (primary key id,
version column version, hard delete deleted, "load_id") unless "footer" is false (then a plain file: the
expected state for the readers). "wide": `id` and c-1 columns cycling int64/string/float64 (a
wide CRM export); "poisoned": events with a string `_loaded_at` (icepipe's own column, wrong type).
Each file has a unique `int64 id` column (id_start .. id_start+rows-1), so rows of many files can be
told apart by the readers' checksums. One process writes them all (100 files in well under a second).
Prints one JSON line per file: {"out", "rows", "bytes"}.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

UTC = dt.timezone.utc
BASE = dt.datetime(2026, 4, 1, tzinfo=UTC)
WORDS = ["alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor"]


def events(rows: int, id_start: int, seed: int) -> pa.Table:
    rnd = random.Random(seed)
    ids = list(range(id_start, id_start + rows))
    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("amount", pa.float64()),
            pa.field("qty", pa.int32()),
            pa.field("price", pa.decimal128(10, 2)),
            pa.field("ts", pa.timestamp("us", tz="UTC")),
            pa.field("active", pa.bool_()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("location", pa.struct([pa.field("lat", pa.float64()), pa.field("city", pa.string())])),
        ]
    )

    def maybe(v):
        return None if rnd.random() < 0.05 else v

    cols = {
        "id": ids,
        "name": [maybe(f"{rnd.choice(WORDS)}-{i}") for i in ids],
        "amount": [maybe(round(rnd.uniform(-1000, 1000), 3)) for _ in ids],
        "qty": [maybe(rnd.randint(0, 500)) for _ in ids],
        "price": [maybe(Decimal(rnd.randint(0, 10_000_000)) / 100) for _ in ids],
        "ts": [maybe(BASE + dt.timedelta(seconds=rnd.randint(0, 86_400 * 30))) for _ in ids],
        "active": [maybe(rnd.random() < 0.5) for _ in ids],
        "tags": [maybe([rnd.choice(WORDS) for _ in range(rnd.randint(0, 3))]) for _ in ids],
        "location": [maybe({"lat": round(rnd.uniform(-90, 90), 4), "city": maybe(rnd.choice(WORDS))}) for _ in ids],
    }
    return pa.table(cols, schema=schema)


def wide(rows: int, id_start: int, columns: int) -> pa.Table:
    ids = list(range(id_start, id_start + rows))
    cols = {"id": pa.array(ids, pa.int64())}
    for c in range(columns - 1):
        if c % 3 == 0:
            cols[f"c{c}"] = pa.array([i * columns + c for i in ids], pa.int64())
        elif c % 3 == 1:
            cols[f"c{c}"] = pa.array([f"v{i}-{c}" for i in ids], pa.string())
        else:
            cols[f"c{c}"] = pa.array([i + c / 8 for i in ids], pa.float64())
    return pa.table(cols)


def merge_rows(item: dict) -> pa.Table:
    rows = item["rows"]
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False), ("name", pa.string()), ("version", pa.int64()), ("deleted", pa.bool_())])
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "name": [f"row {r[0]} v{r[1]}" for r in rows],
            "version": [r[1] for r in rows],
            "deleted": [bool(r[2]) for r in rows],
        },
        schema=schema,
    )
    if not item.get("footer", True):
        return table
    return table.replace_schema_metadata(
        {
            "icepipe.load_id": item["load_id"],
            "icepipe.write_disposition": "merge",
            "icepipe.primary_key": '["id"]',
            "icepipe.version_column": "version",
            "icepipe.hard_delete_column": "deleted",
        }
    )


def table_for(item: dict, i: int) -> pa.Table:
    if item.get("kind") == "merge":
        return merge_rows(item)
    rows, id_start, seed = int(item["rows"]), int(item.get("id_start", 0)), int(item.get("seed", i))
    kind = item.get("kind", "events")
    if kind == "wide":
        return wide(rows, id_start, int(item["columns"]))
    table = events(rows, id_start, seed)
    if kind == "poisoned":
        return table.append_column("_loaded_at", pa.array(["yesterday"] * rows, pa.string()))
    if kind != "events":
        raise SystemExit(f"unknown kind {kind!r}")
    return table


def main() -> int:
    spec = json.load(sys.stdin)
    for i, item in enumerate(spec):
        table = table_for(item, i)
        out = item["out"]
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        # row_group_rows: rows per row group (pyarrow's default: one row group up to 1M rows).
        pq.write_table(table, out, compression="zstd", row_group_size=item.get("row_group_rows"))
        print(json.dumps({"out": out, "rows": table.num_rows, "bytes": os.path.getsize(out)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
