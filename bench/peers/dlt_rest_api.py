"""dlt peer of `icepipe ingest`: the sample API's posts through dlt's `rest_api` source (same
paginator: _page/_limit, until an empty page) to the `filesystem` destination as Parquet.

    dlt_rest_api.py --base-url URL --limit 1000 --dest DIR --pipelines-dir DIR

dlt's defaults otherwise (one normalize worker, nested `tags` become the child table posts__tags).
Prints one JSON line: {"rows": <posts>, "tables": {...}, "work_seconds"}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

# No telemetry: nothing leaves the machine (and no waiting on a network that is not there).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--dest", required=True)
    p.add_argument("--pipelines-dir", required=True)
    args = p.parse_args()

    start = time.perf_counter()
    source = rest_api_source(
        {
            "client": {
                "base_url": args.base_url,
                "headers": {"Accept": "application/json"},
                "paginator": PageNumberPaginator(base_page=1, page_param="_page", total_path=None),
            },
            "resources": [{"name": "posts", "primary_key": "id", "write_disposition": "append", "endpoint": {"path": "posts", "params": {"_limit": args.limit}}}],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=dlt.destinations.filesystem(bucket_url=f"file://{os.path.abspath(args.dest)}"),
        dataset_name="bench",
        pipelines_dir=args.pipelines_dir,
    )
    pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - start
    counts = pipeline.last_trace.last_normalize_info.row_counts
    tables = {k: v for k, v in counts.items() if not k.startswith("_dlt")}
    print(json.dumps({"rows": tables.get("posts", 0), "tables": tables, "work_seconds": seconds}))


if __name__ == "__main__":
    main()
