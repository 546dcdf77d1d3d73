"""merge: upsert a file of changed rows (updates and 1% deletes) into a table of `merge_rows` rows
held in `merge_files` data files (one per "day"), twice: keys spread over the whole table (every
file holds some: copy-on-write's worst case, the target's scenario) and keys of the 3 newest days. icepipe: a merge
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


def _base(ctx: Context) -> tuple[list[Path], int]:
    """The base files (one per day) and the rows they hold."""
    d = ctx.scratch("merge")
    per_file = ctx.sizes.merge_rows // ctx.sizes.merge_files
    base = []
    for day in range(ctx.sizes.merge_files):
        f = d / f"day-{day:03d}.parquet"
        pq.write_table(_rows(list(range(day * per_file, (day + 1) * per_file)), 1), f)
        base.append(f)
    return base, per_file * ctx.sizes.merge_files


def _changes(ctx: Context, name: str, keys: range, total: int) -> tuple[Path, Path, dict[int, int]]:
    """`merge_changes` keys of `keys` changed (1% deleted), as a merge raw file and as a plain
    file, and the expected final state (id -> version)."""
    d = ctx.scratch("merge")
    changes = ctx.sizes.merge_changes
    rng = random.Random(12)
    changed = sorted(rng.sample(keys, changes))
    gone = set(rng.sample(changed, max(1, changes // 100)))
    table = _rows(changed, 2, [i in gone for i in changed])
    merge_file, plain_file = d / f"changes-{name}-merge.parquet", d / f"changes-{name}.parquet"
    pq.write_table(table.replace_schema_metadata(MERGE_FOOTER), merge_file)
    pq.write_table(table, plain_file)
    state = {i: 1 for i in range(total)}
    state.update({i: 2 for i in changed})
    for i in gone:
        del state[i]
    return merge_file, plain_file, state


def _read_back(ident: str) -> dict[int, int]:
    t = stack.catalog().load_table(ident).scan(selected_fields=("id", "version")).to_arrow()
    ids, versions = t.column("id").to_pylist(), t.column("version").to_pylist()
    if len(set(ids)) != len(ids):
        raise measure.CommandFailed(f"{ident} holds {len(ids) - len(set(ids))} duplicate ids")
    return dict(zip(ids, versions))


def _scenario(ctx: Context, base: list[Path], name: str, keys: range, total: int) -> dict:
    merge_file, plain_file, state = _changes(ctx, name, keys, total)
    ours, peer = ctx.ident("merge", f"icepipe_{name}"), ctx.ident("merge", f"pyiceberg_{name}")
    measure.run([ctx.icepipe, "convert", "--json", "--table", ours, *map(str, base)], env=ctx.env)
    measure.run([ctx.python, str(PEER_APPEND), "--table", peer, *map(str, base)], env=ctx.env)
    r_ours = measure.run([ctx.icepipe, "convert", "--json", "--table", ours, str(merge_file)], env=ctx.env)
    report = [json.loads(line) for line in r_ours.stdout.splitlines() if line.startswith("{")][0]
    r_peer = measure.run([ctx.python, str(PEER_UPSERT), "--table", peer, str(plain_file)], env=ctx.env)
    agree = _read_back(ours) == state and _read_back(peer) == state
    for ident in (ours, peer):
        stack.purge(ident)
    return {
        "ours": r_ours,
        "peer": r_peer,
        "stats": report["merged"][0]["stats"],
        "peer_detail": json.loads(r_peer.stdout.strip().splitlines()[-1]),
        "agree": agree,
        "speedup": r_peer.seconds / r_ours.seconds,
    }


def run(ctx: Context) -> CaseResult:
    base, total = _base(ctx)
    per_file = total // ctx.sizes.merge_files
    scenarios = [
        ("spread", "keys spread over the whole table", _scenario(ctx, base, "spread", range(total), total)),
        ("recent", "keys of the 3 newest days", _scenario(ctx, base, "recent", range(total - 3 * per_file, total), total)),
    ]
    judged = scenarios[0][2]
    ok = judged["agree"] and judged["speedup"] >= SPEEDUP and judged["ours"].peak_rss_bytes < LIMIT_BYTES
    changes = ctx.sizes.merge_changes
    rows = []
    for _, label, r in scenarios:
        stats, peer = r["stats"], r["peer_detail"]
        rows.append([
            label,
            f"{r['ours'].seconds:.2f} s, {mb(r['ours'].peak_rss_bytes)}",
            f"{r['peer'].seconds:.2f} s, {mb(r['peer'].peak_rss_bytes)}",
            f"{r['speedup']:.1f}x",
            f"{stats['files_read']} of {stats['files_live']} read, {stats['files_rewritten']} rewritten; "
            f"{stats['rows_removed']:,} rows replaced or deleted, {stats['rows_added']:,} added",
            "yes" if r["agree"] else "**no**",
        ])
    return CaseResult(
        key="merge",
        title=f"merge: {changes:,} changed rows into a {total:,}-row table",
        target=f"at least {SPEEDUP}x faster than PyIceberg delete + upsert, under 150 MB peak, readers agreeing (keys spread over the table)",
        measured=(
            f"spread {judged['speedup']:.1f}x, icepipe {mb(judged['ours'].peak_rss_bytes)} peak; "
            f"3 newest days {scenarios[1][2]['speedup']:.1f}x; readers "
            + ("agree" if all(r["agree"] for _, _, r in scenarios) else "DISAGREE")
        ),
        verdict=verdict(ok),
        tables=[
            Table(
                ["changed keys", "`icepipe convert` (merge file)", "PyIceberg delete + upsert", "speedup", "icepipe's work", "tables as expected"],
                rows,
                caption=(
                    f"One run each side; base table of {total:,} rows in {ctx.sizes.merge_files} files (one per day); "
                    f"{changes:,} changed keys ({max(1, changes // 100)} of them deletes) drawn at random. Seconds and peak RSS "
                    "of the measured process. Both tables read back with PyIceberg must hold every id once, at its expected version."
                ),
            )
        ],
        notes=[
            "Keys spread over the whole table are copy-on-write's worst case: every file holds a changed key, "
            "so every file is rewritten. Keys of a few days (an incremental cursor's usual changes) touch only those days' files.",
        ],
    )
