"""merge: upsert a file of changed rows (updates and 1% deletes, keys spread over the whole table)
into a table of `merge_rows` rows held in `merge_files` data files (one per "day"). icepipe: a merge
raw file (`icepipe.write_disposition=merge`, primary key `id`, version column `version`, hard delete
`deleted`) through `icepipe convert`; peer: PyIceberg `table.delete` + `table.upsert`
(bench/peers/pyiceberg_upsert.py). One run each, wall time and peak RSS of the measured process;
both tables read back with PyIceberg must hold exactly the expected rows.
Target: icepipe at least 20x faster than the peer and under 150 MB peak."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lib import measure, stack
from lib.context import Context
from lib.result import CaseResult, Table, mb, verdict

PEER_APPEND = Path(__file__).resolve().parents[1] / "peers" / "pyiceberg_append.py"
PEER_UPSERT = Path(__file__).resolve().parents[1] / "peers" / "pyiceberg_upsert.py"
LIMIT_BYTES = 150_000_000
SPEEDUP = 20
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("version", pa.int64()), ("deleted", pa.bool_())])
MERGE_FOOTER = {
    "icepipe.load_id": "20261201T000000000Z-bench000",
    "icepipe.write_disposition": "merge",
    "icepipe.primary_key": '["id"]',
    "icepipe.version_column": "version",
    "icepipe.hard_delete_column": "deleted",
}


def _rows(ids: list[int], version: int, deleted: list[bool] | None = None) -> pa.Table:
    return pa.table(
        {
            "id": ids,
            "name": [f"name {i} v{version}" for i in ids],
            "version": [version] * len(ids),
            "deleted": deleted if deleted is not None else [False] * len(ids),
        },
        schema=SCHEMA,
    )


def _inputs(ctx: Context) -> tuple[list[Path], Path, Path, dict[int, int]]:
    """The base files (one per day), the changes as a merge raw file and as a plain file, and the
    expected final state (id -> version)."""
    rows, files, changes = ctx.sizes.merge_rows, ctx.sizes.merge_files, ctx.sizes.merge_changes
    d = ctx.scratch("merge")
    per_file = rows // files
    base = []
    for day in range(files):
        f = d / f"day-{day:03d}.parquet"
        pq.write_table(_rows(list(range(day * per_file, (day + 1) * per_file)), 1), f)
        base.append(f)
    total = per_file * files
    rng = random.Random(12)
    changed = sorted(rng.sample(range(total), changes))
    gone = set(rng.sample(changed, max(1, changes // 100)))
    table = _rows(changed, 2, [i in gone for i in changed])
    merge_file, plain_file = d / "changes-merge.parquet", d / "changes.parquet"
    pq.write_table(table.replace_schema_metadata(MERGE_FOOTER), merge_file)
    pq.write_table(table, plain_file)
    state = {i: 1 for i in range(total)}
    state.update({i: 2 for i in changed})
    for i in gone:
        del state[i]
    return base, merge_file, plain_file, state


def _read_back(ident: str) -> dict[int, int]:
    t = stack.catalog().load_table(ident).scan(selected_fields=("id", "version")).to_arrow()
    ids, versions = t.column("id").to_pylist(), t.column("version").to_pylist()
    if len(set(ids)) != len(ids):
        raise measure.CommandFailed(f"{ident} holds {len(ids) - len(set(ids))} duplicate ids")
    return dict(zip(ids, versions))


def run(ctx: Context) -> CaseResult:
    base, merge_file, plain_file, state = _inputs(ctx)
    ours, peer = ctx.ident("merge", "icepipe"), ctx.ident("merge", "pyiceberg")
    measure.run([ctx.icepipe, "convert", "--json", "--table", ours, *map(str, base)], env=ctx.env)
    measure.run([ctx.python, str(PEER_APPEND), "--table", peer, *map(str, base)], env=ctx.env)

    r_ours = measure.run([ctx.icepipe, "convert", "--json", "--table", ours, str(merge_file)], env=ctx.env)
    report = [json.loads(line) for line in r_ours.stdout.splitlines() if line.startswith("{")][0]
    stats = report["merged"][0]["stats"]
    r_peer = measure.run([ctx.python, str(PEER_UPSERT), "--table", peer, str(plain_file)], env=ctx.env)
    peer_detail = json.loads(r_peer.stdout.strip().splitlines()[-1])

    agree = _read_back(ours) == state and _read_back(peer) == state
    for ident in (ours, peer):
        stack.purge(ident)
    speedup = r_peer.seconds / r_ours.seconds
    ok = agree and speedup >= SPEEDUP and r_ours.peak_rss_bytes < LIMIT_BYTES
    changes = ctx.sizes.merge_changes
    return CaseResult(
        key="merge",
        title=f"merge: {changes:,} changed rows into a {len(state) + changes // 100:,}-row table",
        target=f"at least {SPEEDUP}x faster than PyIceberg upsert, under 150 MB peak, readers agreeing",
        measured=f"{speedup:.1f}x, icepipe {mb(r_ours.peak_rss_bytes)} peak, readers {'agree' if agree else 'DISAGREE'}",
        verdict=verdict(ok),
        tables=[
            Table(
                ["side", "seconds", "peak RSS", "what it did"],
                [
                    [
                        "`icepipe convert` (merge file)",
                        f"{r_ours.seconds:.2f}",
                        mb(r_ours.peak_rss_bytes),
                        f"{stats['files_read']} of {stats['files_live']} files read, {stats['files_rewritten']} rewritten; "
                        f"{stats['rows_removed']:,} rows replaced or deleted, {stats['rows_added']:,} added",
                    ],
                    [
                        "PyIceberg delete + upsert",
                        f"{r_peer.seconds:.2f}",
                        mb(r_peer.peak_rss_bytes),
                        f"{peer_detail['deleted']:,} deleted, {peer_detail['updated']:,} updated, {peer_detail['inserted']:,} inserted",
                    ],
                ],
                caption=(
                    f"One run each; base table of {ctx.sizes.merge_rows:,} rows in {ctx.sizes.merge_files} files; "
                    f"{changes:,} changed keys drawn at random over the whole table ({max(1, changes // 100)} deletes). "
                    "Both tables read back with PyIceberg: "
                    + ("every id at its expected version, once." if agree else "**they differ from the expected rows**.")
                ),
            )
        ],
        notes=[
            "Keys spread over the whole table are copy-on-write's worst case: every file holds a changed key, "
            "so every file is rewritten. Changes clustered in a few days touch only those days' files "
            "(tests/e2e/test_merge.py counts them).",
        ],
    )
