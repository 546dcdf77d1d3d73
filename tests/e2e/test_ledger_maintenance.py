"""Exactly once for the life of a table (issue 10): the ledger outlives snapshot expiry (icepipe's and
PyIceberg's), compaction (icepipe's and a simulated managed one) and the first ledger format; maintenance
keeps every row and removes only what nothing references. Every check reads the table with PyIceberg and
DuckDB through the catalog."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import checks
import datagen

ROWS = 200


def put_files(raw, count: int, first: int = 0) -> list[str]:
    return [raw.put(f"f{i}.parquet", datagen.simple_table(ROWS, i * ROWS, seed=i)) for i in range(first, first + count)]


def convert_each(icepipe, ident: str, urls: list[str]) -> None:
    """One snapshot per file, as a minute-by-minute pipeline makes them."""
    for url in urls:
        out = icepipe.convert([url], table=ident).ok().for_table(ident)
        assert out["rows"] == ROWS, out


def redeliver_adds_nothing(icepipe, catalog, ident: str, urls: list[str]) -> None:
    """Every file again, one by one and all at once (a replay): no snapshot, no row."""
    before = checks.snapshot_ids(catalog, ident)
    for batch in [[u] for u in urls] + [urls]:
        out = icepipe.convert(batch, table=ident).ok().for_table(ident)
        assert out["snapshot_id"] is None and out["rows"] == 0, f"a redelivery added rows: {out}"
        assert len(out["skipped"]) == len(batch), out
    assert checks.snapshot_ids(catalog, ident) == before


def expire_with_pyiceberg(catalog, ident: str) -> None:
    table = catalog.load_table(ident)
    current = table.current_snapshot().snapshot_id
    older = [s.snapshot_id for s in table.snapshots() if s.snapshot_id != current]
    table.maintenance.expire_snapshots().by_ids(older).commit()
    assert checks.snapshot_ids(catalog, ident) == [current]


def test_expiry_by_icepipe_then_redelivery_adds_nothing(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    urls = put_files(raw, 4)
    convert_each(icepipe, ident, urls)
    checks.set_properties(catalog, ident, **{"history.expire.min-snapshots-to-keep": 1, "history.expire.max-snapshot-age-ms": 0})
    steps = checks.maintain(icepipe, ident)
    assert sum(s["snapshots_expired"] for s in steps) == 3, steps
    assert len(checks.snapshot_ids(catalog, ident)) == 1
    redeliver_adds_nothing(icepipe, catalog, ident, urls)
    checks.assert_ids(stack, catalog, ident, range(4 * ROWS))


def test_expiry_by_pyiceberg_then_redelivery_adds_nothing(icepipe, raw, new_table, catalog, stack):
    ident = new_table()
    urls = put_files(raw, 3)
    convert_each(icepipe, ident, urls)
    expire_with_pyiceberg(catalog, ident)
    redeliver_adds_nothing(icepipe, catalog, ident, urls)
    checks.assert_ids(stack, catalog, ident, range(3 * ROWS))
    # A new file still lands, once.
    (new,) = put_files(raw, 1, first=3)
    assert icepipe.convert([new], table=ident).ok().for_table(ident)["rows"] == ROWS
    checks.assert_ids(stack, catalog, ident, range(4 * ROWS))


def test_compaction_and_expiry_then_redelivery_adds_nothing(icepipe, raw, new_table, catalog, stack, s3):
    ident = new_table()
    urls = put_files(raw, 6)
    convert_each(icepipe, ident, urls)
    checks.set_properties(catalog, ident, **{"history.expire.min-snapshots-to-keep": 1, "history.expire.max-snapshot-age-ms": 0})
    steps = checks.maintain(icepipe, ident)
    kinds = [s["step"] for s in steps]
    assert "compact" in kinds and "remove_orphans" in kinds, steps
    compaction = next(s for s in steps if s["step"] == "compact")
    assert compaction["files_rewritten"] == 6 and compaction["files_written"] == 1, compaction
    table = catalog.load_table(ident)
    snapshot = table.current_snapshot()
    assert snapshot.summary.operation.value == "replace", snapshot.summary
    files = table.inspect.files()
    assert files.num_rows == 1, files.to_pydict()["file_path"]
    # icepipe's expiry then runs again: only the compacted snapshot is left.
    checks.maintain(icepipe, ident)
    assert len(checks.snapshot_ids(catalog, ident)) == 1
    checks.assert_ids(stack, catalog, ident, range(6 * ROWS))
    redeliver_adds_nothing(icepipe, catalog, ident, urls)
    listed = icepipe.run("tables", "--health", "--json", "--table", ident).ok().json
    (health,) = [t["health"] for t in listed if isinstance(t, dict) and t["table"] == ident]
    assert health["data_files"] == 1 and health["snapshots"] == 1, health
    assert health["ledger"]["objects"] == 6, health


def test_simulated_managed_compaction_and_expiry_then_redelivery_adds_nothing(icepipe, raw, new_table, catalog, stack):
    """R2's managed compaction rewrites our files into its own and commits a snapshot without icepipe's
    summary; its managed expiration then drops every snapshot that named our objects."""
    ident = new_table()
    urls = put_files(raw, 3)
    convert_each(icepipe, ident, urls)
    table = catalog.load_table(ident)
    rows = table.scan().to_arrow()
    table.overwrite(rows)  # every data file replaced by new ones, as a compaction does
    expire_with_pyiceberg(catalog, ident)
    summary = catalog.load_table(ident).current_snapshot().summary
    assert "icepipe.ledger" not in summary.additional_properties, summary
    redeliver_adds_nothing(icepipe, catalog, ident, urls)
    checks.assert_ids(stack, catalog, ident, range(3 * ROWS))


def test_migration_from_the_summary_ledger(icepipe, raw, new_table, catalog, stack, s3):
    """A table whose snapshots name their raw objects in `icepipe.raw-objects` (the first ledger format):
    maintained by this version (every such snapshot expired), then redelivered: no duplicate."""
    urls = put_files(raw, 3)
    # The objects' (key, eTag) as icepipe records them, from a scratch table.
    scratch = new_table()
    icepipe.convert(urls, table=scratch).ok()
    ids = checks.raw_object_ids(s3, catalog.load_table(scratch).current_snapshot().summary.additional_properties)
    by_key = {key: etag for key, etag in ids}
    ident = new_table()
    ns = ident.rsplit(".", 1)[0]
    from pyiceberg.exceptions import NamespaceAlreadyExistsError

    try:
        catalog.create_namespace(ns)
    except NamespaceAlreadyExistsError:
        pass
    legacy = catalog.create_table(ident, schema=datagen.simple_table(1).schema)
    for i, url in enumerate(urls):
        key = url.split("/", 3)[3]
        recorded = json.dumps([{"key": key, "etag": by_key[key]}])
        legacy.append(datagen.simple_table(ROWS, i * ROWS, seed=i), snapshot_properties={"icepipe.raw-objects": recorded})
        legacy = catalog.load_table(ident)
    # Held already, through the old summaries.
    redeliver_adds_nothing(icepipe, catalog, ident, urls)
    checks.set_properties(catalog, ident, **{"history.expire.min-snapshots-to-keep": 1, "history.expire.max-snapshot-age-ms": 0})
    checks.maintain(icepipe, ident)
    assert len(checks.snapshot_ids(catalog, ident)) == 1
    assert "icepipe.ledger" in catalog.load_table(ident).properties
    redeliver_adds_nothing(icepipe, catalog, ident, urls)
    checks.assert_ids(stack, catalog, ident, range(3 * ROWS))


def test_orphan_removal_deletes_only_unreferenced_files_older_than_the_grace_period(
    icepipe, raw, new_table, catalog, stack, s3
):
    ident = new_table()
    urls = put_files(raw, 2)
    convert_each(icepipe, ident, urls)
    location = catalog.load_table(ident).metadata.location.rstrip("/")
    bucket_path = checks.strip_scheme(location)
    old = f"{bucket_path}/data/orphan-old.parquet"
    with s3.open_output_stream(old) as f:
        f.write(datagen.parquet_bytes(datagen.simple_table(5, 10_000)))
    grace_s = 4
    time.sleep(grace_s + 1.5)  # the old orphan is now older than the grace period
    young = f"{bucket_path}/data/orphan-young.parquet"
    with s3.open_output_stream(young) as f:
        f.write(datagen.parquet_bytes(datagen.simple_table(5, 20_000)))
    checks.set_properties(catalog, ident, **{"icepipe.maintenance.orphan-grace-ms": grace_s * 1000})
    dry = [o for o in icepipe.run("maintain", "--table", ident, "--dry-run", "--json").ok().json if isinstance(o, dict)]
    sweep = next(s for s in dry if s["step"] == "remove_orphans")
    assert sweep["files_deleted"] == 1 and sweep["dry_run"], dry
    assert s3.get_file_info(old).type.name == "File", "a dry run deleted a file"
    steps = checks.maintain(icepipe, ident)
    sweep = next(s for s in steps if s["step"] == "remove_orphans")
    assert sweep["files_deleted"] == 1, steps
    assert s3.get_file_info(old).type.name == "NotFound"
    assert s3.get_file_info(young).type.name == "File", "an orphan younger than the grace period was deleted"
    checks.assert_ids(stack, catalog, ident, range(2 * ROWS))
    redeliver_adds_nothing(icepipe, catalog, ident, urls)


def test_a_rename_by_pyiceberg_then_raw_files_with_the_old_name(icepipe, raw, new_table, catalog, stack):
    """Tables shared with others: a column renamed with PyIceberg keeps receiving the raw column still
    called by its old name; a partition spec another tool set stays in force."""
    ident = new_table()
    first = raw.put("before.parquet", datagen.simple_table(ROWS, 0, seed=1))
    icepipe.convert([first], table=ident).ok()
    table = catalog.load_table(ident)
    with table.update_schema() as update:
        update.rename_column("name", "label")
    table = catalog.load_table(ident)
    with table.update_spec() as spec:
        spec.add_identity("label")
    after = raw.put("after.parquet", datagen.simple_table(ROWS, ROWS, seed=2))  # still calls it `name`
    out = icepipe.convert([after], table=ident).ok().for_table(ident)
    assert out["rows"] == ROWS, out
    table = catalog.load_table(ident)
    names = [f.name for f in table.schema().fields]
    assert "label" in names and "name" not in names, names
    rows = table.scan().to_arrow().sort_by("id")
    assert rows.column("label").to_pylist() == [f"row-{i}" for i in range(2 * ROWS)]
    specs = {f.spec_id for f in [table.spec()]}
    files = table.inspect.files().to_pydict()
    new_files = [p for p, s in zip(files["file_path"], files["spec_id"]) if s == table.spec().spec_id]
    assert new_files, f"no file written with the spec another tool set ({specs}): {files['spec_id']}"
    checks.assert_ids(stack, catalog, ident, range(2 * ROWS))
