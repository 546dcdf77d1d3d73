"""ingest: N JSON records (nested, paginated) from the bundled sample API to Parquet.
`icepipe ingest` (to the raw bucket over S3) vs dlt's `rest_api` source to the `filesystem`
destination as Parquet (a local directory). Target: icepipe at least 10x the rows/s."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from lib import measure, stack
from lib.context import Context
from lib.log import log
from lib.result import CaseResult, Table, mib, verdict
from lib.stats import Summary, interleave, ratios

TARGET_SPEEDUP = 10.0
BENCH = Path(__file__).resolve().parents[1]
SOURCE = "bench_api"
PAGE_LIMIT = 1000  # the `limit` of bench/sources.toml's paginator (the API's maximum)


@contextmanager
def sample_api(ctx: Context, posts: int):
    """harness/sample_api.mjs on a free port; yields its URL."""
    api = ctx.root / "harness" / "sample_api.mjs"
    if not api.exists():
        raise FileNotFoundError(f"{api} is missing (the bundled sample API)")
    p = subprocess.Popen(["node", str(api), "--port", "0", "--posts", str(posts)], stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        url = json.loads(line)["url"]
        log(f"sample API with {posts:,} posts at {url}")
        yield url
    finally:
        p.terminate()
        p.wait(timeout=30)


def served_json(url: str, limit: int) -> tuple[int, float]:
    """Bytes of JSON the API serves for every page, and the seconds one sequential client needs to
    fetch them (the floor under any client that reads page after page)."""
    total, page, start = 0, 1, time.perf_counter()
    while True:
        with urllib.request.urlopen(f"{url}/posts?_page={page}&_limit={limit}", timeout=60) as r:
            body = r.read()
        total += len(body)
        if body.strip() == b"[]":  # the paginator's end, as bench/sources.toml stops on it
            return total, time.perf_counter() - start
        page += 1


def run(ctx: Context) -> CaseResult:
    n, limit = ctx.sizes.ingest_records, PAGE_LIMIT
    config = BENCH / "sources.toml"
    scratch = ctx.scratch("ingest")
    with sample_api(ctx, n) as url:
        json_bytes, serve_seconds = served_json(url, limit)

        def a(i: int) -> measure.Run:
            r = measure.run([ctx.icepipe, "ingest", "--config", str(config), "--source", SOURCE, "--base-url-override", url, "--json"], env=ctx.env)
            report = json.loads(r.stdout)
            got = sum(res["rows"] for res in report["resources"])
            if got != n or report["errors"]:
                raise measure.CommandFailed(f"icepipe ingest landed {got} of {n} records: {r.stdout[-2000:]}")
            stack.delete_raw_prefix(f"sources/{SOURCE}/")
            return r

        def b(i: int) -> measure.Run:
            dest, pipes = scratch / f"dlt-{i}", scratch / f"dlt-pipelines-{i}"
            r = measure.run(
                [ctx.python, str(BENCH / "peers" / "dlt_rest_api.py"), "--base-url", url, "--limit", str(limit), "--dest", str(dest), "--pipelines-dir", str(pipes)],
                env=ctx.env,
            )
            got = json.loads(r.stdout.strip().splitlines()[-1])
            if got["rows"] != n:
                raise measure.CommandFailed(f"dlt loaded {got['rows']} of {n} records: {r.stdout[-2000:]}")
            shutil.rmtree(dest, ignore_errors=True)
            shutil.rmtree(pipes, ignore_errors=True)
            return r

        pairs = interleave(ctx.sizes.pairs, a, b, label="ingest")
    speedup = ratios([(x.seconds, y.seconds) for x, y in pairs])
    ice = Summary.of([x.seconds for x, _ in pairs])
    dlt = Summary.of([y.seconds for _, y in pairs])
    dlt_work = Summary.of([json.loads(y.stdout.strip().splitlines()[-1])["work_seconds"] for _, y in pairs])
    # MB/s of JSON per core: the input's size over the CPU time a side spent (all its threads).
    ice_rate = Summary.of([json_bytes / 1e6 / x.cpu_seconds for x, _ in pairs])
    dlt_rate = Summary.of([json_bytes / 1e6 / y.cpu_seconds for _, y in pairs])
    return CaseResult(
        key="ingest",
        title="ingest: JSON API to Parquet in raw",
        target=f"icepipe at least {TARGET_SPEEDUP:g}x the rows/s of dlt",
        measured=(
            f"{speedup.median:.1f}x the rows/s ({speedup.low:.1f}-{speedup.high:.1f}); "
            f"{ice_rate.median:.0f} MB/s of JSON per core (dlt {dlt_rate.median:.1f})"
        ),
        verdict=verdict(speedup.median >= TARGET_SPEEDUP),
        tables=[
            Table(
                ["side", "seconds", "records/s (median)", "MB/s of JSON per core", "peak RSS (median)"],
                [
                    ["`icepipe ingest` (Parquet to the raw bucket, S3)", ice.fmt(" s"), f"{n / ice.median:,.0f}", ice_rate.fmt("", 0), mib(Summary.of([x.peak_rss_bytes for x, _ in pairs]).median)],
                    ["dlt `rest_api` -> `filesystem` (Parquet, local dir)", dlt.fmt(" s"), f"{n / dlt.median:,.0f}", dlt_rate.fmt("", 1), mib(Summary.of([y.peak_rss_bytes for _, y in pairs]).median)],
                    ["dlt, work after imports", dlt_work.fmt(" s"), f"{n / dlt_work.median:,.0f}", "", ""],
                    ["the API alone: one client fetching every page in turn (Python urllib)", f"{serve_seconds:.2f} s", f"{n / serve_seconds:,.0f}", "", ""],
                    ["**rows/s ratio** (icepipe / dlt, per pair)", f"**{speedup.fmt('x')}**", "", "", ""],
                ],
                caption=(
                    f"{n:,} posts from `harness/sample_api.mjs --posts {n}` (nested `tags` objects), "
                    f"pages of {limit} (`_page`/`_limit`) until an empty page; both sides write the posts and "
                    "the child table posts__tags."
                ),
            )
        ],
        notes=[
            "One sample API process (Node, on the same 2 cores) serves both sides; records/s counts posts.",
            "icepipe uploads its Parquet to the stack's S3, dlt writes local files: icepipe's side does "
            "the larger share of I/O.",
            f"MB/s of JSON per core: the {json_bytes / 1e6:,.1f} MB of JSON the API serves for all pages over the "
            "side's CPU time (user + system, every thread; GNU time). The 10x target means finishing in a tenth "
            "of dlt's time; the API's own serving time (row above) is a floor under any client that reads "
            "the pages in turn.",
        ],
    )
