"""A raw object's rows land in a table exactly once: re-converting it commits nothing, two processes racing
on the same object commit it once, and two processes racing on different objects both get in."""

from __future__ import annotations

import pytest

import checks
import datagen


@pytest.mark.parametrize("transport", ["s3", "local"])
def test_same_file_twice(transport, icepipe, raw, tmp_path, new_table, catalog, stack):
    ident = new_table()
    url, _ = checks.place(transport, raw, tmp_path, "once.parquet", datagen.simple_table(1200, 0, seed=3))

    first = icepipe.convert([url], table=ident).ok().for_table(ident)
    assert isinstance(first["snapshot_id"], int), first
    assert len(first["objects"]) == 1 and checks.same_object(first["objects"][0], url), first
    assert first["skipped"] == [] and first["rows"] == 1200, first
    snaps = checks.snapshot_ids(catalog, ident)
    assert snaps == [first["snapshot_id"]]

    second = icepipe.convert([url], table=ident).ok().for_table(ident)
    assert second["snapshot_id"] is None, f"second conversion of the same object committed a snapshot: {second}"
    assert second["objects"] == [], second
    assert len(second["skipped"]) == 1 and checks.same_object(second["skipped"][0], url), second
    assert second["rows"] == 0 and second["data_files"] == 0, second
    assert checks.snapshot_ids(catalog, ident) == snaps, "a snapshot was added by the second conversion"
    checks.assert_ids(stack, catalog, ident, range(1200))


def test_same_file_twice_in_one_call_and_mixed(icepipe, raw, new_table, catalog, stack, s3):
    """An object given twice on one command line counts once; a later call with one old and one new object
    commits only the new one."""
    ident = new_table()
    a = raw.put("a.parquet", datagen.simple_table(300, 0, seed=4))
    b = raw.put("b.parquet", datagen.simple_table(400, 1000, seed=5))
    out = icepipe.convert([a, a], table=ident).ok().for_table(ident)
    assert out["rows"] == 300, out
    checks.assert_ids(stack, catalog, ident, range(300))

    out = icepipe.convert([a, b], table=ident).ok().for_table(ident)
    assert isinstance(out["snapshot_id"], int), out
    assert out["objects"] == [b] and out["skipped"] == [a] and out["rows"] == 400, out
    checks.assert_ids(stack, catalog, ident, list(range(300)) + list(range(1000, 1400)))
    summary = catalog.load_table(ident).current_snapshot().summary
    keys = checks.raw_object_keys(s3, summary)
    assert len(keys) == 1 and checks.key_matches(keys[0], b, stack.raw_bucket), keys


def test_same_object_two_processes_at_once(icepipe, raw, new_table, catalog, stack):
    ident = new_table()  # does not exist yet: both processes also race to create it
    url = raw.put("race.parquet", datagen.simple_table(2000, 0, seed=6))
    procs = [icepipe.popen_convert([url], table=ident) for _ in range(2)]
    results = [p.wait() for p in procs]
    for r in results:
        r.ok()
    outs = [r.for_table(ident) for r in results]
    committed = [o for o in outs if o["snapshot_id"] is not None]
    assert len(committed) == 1, f"expected exactly one process to commit the object, got {outs}"
    other = next(o for o in outs if o is not committed[0])
    assert other["skipped"] == [url] and other["rows"] == 0, other
    assert checks.snapshot_ids(catalog, ident) == [committed[0]["snapshot_id"]]
    checks.assert_ids(stack, catalog, ident, range(2000))


def test_different_objects_two_processes_at_once(icepipe, raw, new_table, catalog, stack):
    """The table exists (so both commits race on the same parent: one gets 409 and must retry on the new
    parent without dropping the other's manifests)."""
    ident = new_table()
    seed = raw.put("p0.parquet", datagen.simple_table(100, 900_000, seed=9))
    first = icepipe.convert([seed], table=ident).ok().for_table(ident)
    a = raw.put("p1.parquet", datagen.simple_table(1500, 0, seed=7))
    b = raw.put("p2.parquet", datagen.simple_table(2500, 100_000, seed=8))
    procs = [icepipe.popen_convert([a], table=ident), icepipe.popen_convert([b], table=ident)]
    outs = [p.wait().ok().for_table(ident) for p in procs]
    assert all(isinstance(o["snapshot_id"], int) for o in outs), outs
    assert outs[0]["snapshot_id"] != outs[1]["snapshot_id"], outs
    assert [o["rows"] for o in outs] == [1500, 2500], outs
    table = catalog.load_table(ident)
    assert sorted(checks.snapshot_ids(catalog, ident)) == sorted([first["snapshot_id"]] + [o["snapshot_id"] for o in outs])
    # a linear history: current -> one racer -> the other racer -> the first snapshot
    current = table.current_snapshot()
    parent = table.snapshot_by_id(current.parent_snapshot_id)
    assert {current.snapshot_id, parent.snapshot_id} == {o["snapshot_id"] for o in outs}
    assert parent.parent_snapshot_id == first["snapshot_id"]
    assert int(current.summary["total-records"]) == 4100, current.summary
    checks.assert_ids(stack, catalog, ident, list(range(1500)) + list(range(100_000, 102_500)) + list(range(900_000, 900_100)))
