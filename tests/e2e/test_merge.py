"""The `merge` write disposition through the CLI, read back by PyIceberg, DuckDB (scan and attach) and polars:
raw files whose footer says `icepipe.write_disposition=merge` (with `icepipe.primary_key`,
`icepipe.version_column`, `icepipe.hard_delete_column`) upsert and delete by key. The newest version wins
whatever the arrival order, redeliveries change nothing, concurrent processes all land, and only the data
files holding affected keys are read and changed; with `icepipe.merge_key` a load restates whole groups (rows
gone upstream leave, an older load of a group changes nothing). Every test runs in both `write.merge.mode`s: copy-on-write
(affected files rewritten, no delete files) and merge-on-read (Iceberg v2 position delete files, which every
reader here must apply); a compaction after merge-on-read leaves plain data files again."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

import checks
import readers

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("version", pa.int64()),
        pa.field("deleted", pa.bool_()),
    ]
)


def merge_file(load_id: str, rows: list[tuple[int, int, bool]]) -> pa.Table:
    """Rows (id, version, deleted) as the ingest writes a merge load."""
    table = pa.table(
        {
            "id": [r[0] for r in rows],
            "name": [f"row {r[0]} v{r[1]}" for r in rows],
            "version": [r[1] for r in rows],
            "deleted": [r[2] for r in rows],
        },
        schema=SCHEMA,
    )
    return table.replace_schema_metadata(
        {
            "icepipe.load_id": load_id,
            "icepipe.write_disposition": "merge",
            "icepipe.primary_key": json.dumps(["id"]),
            "icepipe.version_column": "version",
            "icepipe.hard_delete_column": "deleted",
        }
    )


def current_state(rows: dict[int, int]) -> pa.Table:
    """The table every reader must return: one row per live id at its version."""
    ids = sorted(rows)
    return pa.table(
        {
            "id": ids,
            "name": [f"row {i} v{rows[i]}" for i in ids],
            "version": [rows[i] for i in ids],
            "deleted": [False] * len(ids),
        },
        schema=SCHEMA,
    )


def assert_every_reader_sees(stack, catalog, ident: str, rows: dict[int, int]) -> None:
    assert_every_reader_returns(stack, catalog, ident, current_state(rows))


def assert_every_reader_returns(stack, catalog, ident: str, table: pa.Table) -> None:
    expected = readers.source_canonical([table])
    problems = []
    for name, got in readers.all_readers(stack, catalog, ident).items():
        problems += readers.compare(name, got.select(table.schema.names), table.schema, expected)
    checks.no_problems(problems)


MODES = ["copy-on-write", "merge-on-read"]


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


def use_mode(catalog, ident: str, mode: str) -> None:
    """The table's merge mode (the table exists once its first file is converted)."""
    checks.set_properties(catalog, ident, **{"write.merge.mode": mode})


def delete_files_as_the_mode_writes_them(catalog, ident: str, mode: str) -> None:
    summary = catalog.load_table(ident).current_snapshot().summary
    if mode == "copy-on-write":
        assert summary["total-delete-files"] == "0", summary
    else:
        assert int(summary["total-delete-files"]) > 0, summary
        assert int(summary["total-position-deletes"]) > 0, summary


def test_updates_and_deletes_end_as_the_current_state_for_every_reader(icepipe, raw, new_table, catalog, stack, mode):
    ident = new_table()
    state = {i: 1 for i in range(200)}
    first = raw.put("L1.parquet", merge_file("L1", [(i, 1, False) for i in range(200)]))
    out = icepipe.convert([first], table=ident).ok().for_table(ident)
    assert out["merged"][0]["stats"]["rows_added"] == 200, out
    use_mode(catalog, ident, mode)

    changes = [(i, 2, False) for i in range(10, 30)] + [(i, 2, True) for i in range(50, 55)]
    changes += [(77, 4, False), (77, 3, False), (300, 1, False)]  # a key twice in one file, a new key
    second = raw.put("L2.parquet", merge_file("L2", changes))
    out = icepipe.convert([second], table=ident).ok().for_table(ident)
    stats = out["merged"][0]["stats"]
    assert (stats["rows_read"], stats["keys"], stats["deletes"]) == (28, 27, 5), stats
    assert (stats["rows_added"], stats["rows_removed"]) == (22, 26), stats
    state.update({i: 2 for i in range(10, 30)})
    for i in range(50, 55):
        del state[i]
    state.update({77: 4, 300: 1})
    summary = catalog.load_table(ident).current_snapshot().summary
    assert getattr(summary.operation, "value", summary.operation) == "overwrite", summary
    delete_files_as_the_mode_writes_them(catalog, ident, mode)
    assert_every_reader_sees(stack, catalog, ident, state)


def test_out_of_order_and_redelivered_merges_keep_the_newest_version(icepipe, raw, new_table, catalog, stack, mode):
    ident = new_table()
    newer = raw.put("newer.parquet", merge_file("L-newer", [(i, 5, False) for i in range(20)]))
    older = raw.put("older.parquet", merge_file("L-older", [(i, 3, False) for i in range(10, 30)]))
    icepipe.convert([newer], table=ident).ok()
    use_mode(catalog, ident, mode)
    out = icepipe.convert([older], table=ident).ok().for_table(ident)
    assert out["merged"][0]["stats"]["stale"] == 10, out
    state = {i: 5 for i in range(20)} | {i: 3 for i in range(20, 30)}
    assert_every_reader_sees(stack, catalog, ident, state)

    # Every merge file three more times, alone and together: held, nothing committed.
    snapshots = checks.snapshot_ids(catalog, ident)
    for _ in range(3):
        for inputs in ([older], [newer], [newer, older]):
            out = icepipe.convert(inputs, table=ident).ok().for_table(ident)
            assert out["snapshot_id"] is None and len(out["skipped"]) == len(inputs), out
    assert checks.snapshot_ids(catalog, ident) == snapshots
    assert_every_reader_sees(stack, catalog, ident, state)


def test_two_merges_and_an_append_racing_in_separate_processes_all_land(icepipe, raw, new_table, catalog, stack, mode):
    ident = new_table()
    icepipe.convert([raw.put("base.parquet", merge_file("L0", [(i, 1, False) for i in range(300)]))], table=ident).ok()
    use_mode(catalog, ident, mode)
    a = raw.put("a.parquet", merge_file("La", [(i, 2, False) for i in range(0, 120)]))
    b = raw.put("b.parquet", merge_file("Lb", [(i, 3, i % 10 == 0) for i in range(100, 200)]))
    appended = raw.put("plain.parquet", current_state({i: 1 for i in range(1000, 1010)}))  # no footer: append
    running = [icepipe.popen_convert([x], table=ident) for x in (a, b, appended)]
    results = [r.wait().ok().for_table(ident) for r in running]
    assert [len(r["objects"]) for r in results] == [1, 1, 1], results
    state = {i: 1 for i in range(300)} | {i: 2 for i in range(120)}
    # 100..120 are in both merges: version 3 wins whichever committed first, and 100 and 110,
    # deleted at 3, stay deleted even when the version-2 merge commits after (tombstones).
    state |= {i: 3 for i in range(100, 200)}
    for i in range(100, 200, 10):
        del state[i]
    state |= {i: 1 for i in range(1000, 1010)}
    assert_every_reader_sees(stack, catalog, ident, state)
    delete_files_as_the_mode_writes_them(catalog, ident, mode)


def test_only_the_files_holding_affected_keys_are_changed(icepipe, raw, new_table, catalog, stack, mode):
    ident = new_table()
    # Thirty days of new keys, one file each (appended together: one snapshot).
    days = [raw.put(f"day{d:02d}.parquet", current_state({i: 1 for i in range(d * 1000, (d + 1) * 1000)})) for d in range(30)]
    icepipe.convert(days, table=ident).ok()
    use_mode(catalog, ident, mode)
    # Updates touching three days, and deletes in one of them.
    touched = [(i, 2, False) for i in range(3000, 3050)] + [(i, 2, False) for i in range(17_500, 17_510)]
    touched += [(i, 2, True) for i in range(29_000, 29_005)]
    out = icepipe.convert([raw.put("upd.parquet", merge_file("L-upd", touched))], table=ident).ok().for_table(ident)
    stats = out["merged"][0]["stats"]
    assert stats["files_live"] == 30, stats
    summary = catalog.load_table(ident).current_snapshot().summary
    if mode == "copy-on-write":
        assert (stats["files_read"], stats["files_rewritten"], stats["delete_files_added"]) == (3, 3, 0), stats
        assert summary["deleted-data-files"] == "3", summary
    else:
        # The thirty files share one partition (the day they were loaded): one delete file for it.
        assert (stats["files_read"], stats["files_rewritten"], stats["delete_files_added"]) == (3, 0, 1), stats
        assert "deleted-data-files" not in summary.additional_properties, summary
        assert (summary["added-delete-files"], summary["added-position-deletes"]) == ("1", "65"), summary
    state = {i: 1 for i in range(30_000)} | {i: 2 for i in list(range(3000, 3050)) + list(range(17_500, 17_510))}
    for i in range(29_000, 29_005):
        del state[i]
    assert_every_reader_sees(stack, catalog, ident, state)


def test_a_compaction_after_merge_on_read_leaves_plain_data_files(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    days = [raw.put(f"day{d}.parquet", current_state({i: 1 for i in range(d * 100, (d + 1) * 100)})) for d in range(3)]
    icepipe.convert(days, table=ident).ok()
    use_mode(catalog, ident, "merge-on-read")
    changes = [(i, 2, i % 3 == 0) for i in range(0, 300, 7)]
    icepipe.convert([raw.put("L2.parquet", merge_file("L2", changes))], table=ident).ok()
    state = {i: 1 for i in range(300)} | {i: 2 for i, _, deleted in changes if not deleted}
    for i, _, deleted in changes:
        if deleted:
            del state[i]
    delete_files_as_the_mode_writes_them(catalog, ident, "merge-on-read")
    assert_every_reader_sees(stack, catalog, ident, state)

    steps = checks.maintain(icepipe, ident)
    assert any(s.get("step") == "compact" for s in steps), steps
    summary = catalog.load_table(ident).current_snapshot().summary
    assert (summary["total-delete-files"], summary["total-position-deletes"]) == ("0", "0"), summary
    assert summary["total-records"] == str(len(state)), summary
    assert_every_reader_sees(stack, catalog, ident, state)


DAY_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("version", pa.int64()),
        pa.field("day", pa.int64()),
    ]
)


def by_day(rows: list[tuple[int, int, int]]) -> pa.Table:
    """Rows (id, day, version) sorted by id, as every reader must return them."""
    rows = sorted(rows)
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "name": [f"row {r[0]} v{r[2]}" for r in rows],
            "version": [r[2] for r in rows],
            "day": [r[1] for r in rows],
        },
        schema=DAY_SCHEMA,
    )


def day_load(load_id: str, rows: list[tuple[int, int, int]]) -> pa.Table:
    """A merge load restating the days (`icepipe.merge_key`) its rows carry."""
    return by_day(rows).replace_schema_metadata(
        {
            "icepipe.load_id": load_id,
            "icepipe.write_disposition": "merge",
            "icepipe.primary_key": json.dumps(["id"]),
            "icepipe.version_column": "version",
            "icepipe.merge_key": json.dumps(["day"]),
        }
    )


def test_a_merge_key_reload_and_a_late_older_load_read_alike_in_every_reader(icepipe, raw, new_table, catalog, stack, mode):
    ident = new_table()
    first = [(d * 100 + i, d, 1) for d in (1, 2, 3) for i in range(10)]
    icepipe.convert([raw.put("L1.parquet", day_load("L1", first))], table=ident).ok()
    use_mode(catalog, ident, mode)
    # Day 2 at version 3: ids 205..209 are gone upstream, 250 is new; days 1 and 3 stay.
    reload = [(200 + i, 2, 3) for i in range(5)] + [(250, 2, 3)]
    out = icepipe.convert([raw.put("L3.parquet", day_load("L3", reload))], table=ident).ok().for_table(ident)
    stats = out["merged"][0]["stats"]
    assert (stats["groups_replaced"], stats["groups_stale"], stats["rows_removed"], stats["rows_added"]) == (1, 0, 10, 6), stats
    # A load of day 2 at version 2, converted late: stale as a whole, nothing of it lands.
    late = [(200 + i, 2, 2) for i in range(10)]
    out = icepipe.convert([raw.put("L2.parquet", day_load("L2", late))], table=ident).ok().for_table(ident)
    stats = out["merged"][0]["stats"]
    assert (stats["groups_stale"], stats["stale"], stats["rows_removed"], stats["rows_added"]) == (1, 10, 0, 0), stats
    summary = catalog.load_table(ident).current_snapshot().summary
    assert summary["icepipe.merge.stale-groups"] == "1", summary
    state = [r for r in first if r[1] != 2] + reload
    assert_every_reader_returns(stack, catalog, ident, by_day(state))
