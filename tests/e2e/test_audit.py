"""`icepipe audit` and `icepipe reconcile` against the real stack: the audit is silent on a healthy table and
finds what is off (a raw object with no rows and no error record, a deleted data file, a duplicate manifest
entry), exiting 2 with what to run; the sweep converts what no table holds and records what cannot convert."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

import checks
import datagen

ROWS = 200


class Audited:
    """One table `<root>.<source>.orders` fed from the raw layout, with its own namespace root and source."""

    def __init__(self, icepipe, stack, s3, catalog):
        self.icepipe, self.stack, self.s3, self.catalog = icepipe, stack, s3, catalog
        tag = uuid.uuid4().hex[:8]
        self.root, self.source = f"aud{tag}", f"src{tag}"
        self.ident = f"{self.root}.{self.source}.orders"
        self.count = 0

    def put(self, data: bytes | pa.Table | None = None, day: str = "01") -> str:
        """A raw object under the table's prefix (the next ids when no data is given); returns its key."""
        if data is None:
            data = datagen.simple_table(ROWS, self.count * ROWS, seed=self.count)
        if isinstance(data, pa.Table):
            data = datagen.parquet_bytes(data)
        key = f"sources/{self.source}/orders/year=2026/month=03/day={day}/part-{self.count}.parquet"
        self.count += 1
        with self.s3.open_output_stream(f"{self.stack.raw_bucket}/{key}") as f:
            f.write(data)
        return key

    def convert(self, key: str):
        self.icepipe.convert([self.stack.raw_url(key)], namespace_root=self.root).ok()

    def audit(self, *extra) -> tuple[int, dict]:
        r = self.icepipe.run("audit", "--namespace-root", self.root, "--table", self.ident, "--json", *extra)
        assert r.returncode in (0, 2), f"the audit itself failed\n{r.describe()}"
        report = r.json[0]
        assert (r.returncode == 0) == report["ok"], r.describe()
        [table] = report["tables"]
        return r.returncode, table

    def reconcile(self, *extra):
        return self.icepipe.run(
            "reconcile", "--namespace-root", self.root, "--prefix", f"{self.source}/", "--min-age-seconds", "0", "--json", *extra
        )

    def drop(self):
        try:
            self.catalog.drop_table(self.ident)
        except Exception:
            pass


@pytest.fixture
def audited(icepipe, stack, s3, catalog, request):
    a = Audited(icepipe, stack, s3, catalog)
    yield a
    if not getattr(request.node, "e2e_failed", False):
        a.drop()


def healthy(audited: Audited, objects: int = 3) -> list[str]:
    keys = [audited.put(day=f"0{i + 1}") for i in range(objects)]
    for key in keys:
        audited.convert(key)
    code, table = audited.audit()
    assert code == 0, table
    assert (table["raw_objects"], table["held"], table["unaccounted"]) == (objects, objects, []), table
    assert table["fixes"] == [] and table["data_files"] >= objects, table
    return keys


def data_files(audited: Audited) -> list:
    return [task.file for task in audited.catalog.load_table(audited.ident).scan().plan_files()]


def test_healthy_table_is_silent_then_a_lost_object_is_found_and_reconciled(audited):
    healthy(audited)
    lost = audited.put(day="09")  # never converted: its notification was lost
    code, table = audited.audit()
    assert code == 2, table
    assert table["unaccounted"] == [lost], table
    assert any("icepipe reconcile --all" in f for f in table["fixes"]), table["fixes"]

    # --since leaves older objects out of the audit (the lost one was written last, so it stays).
    code, since = audited.audit("--since", "2000-01-01")
    assert since["raw_objects"] == 4

    dry = audited.reconcile("--dry-run")
    assert dry.returncode == 0, dry.describe()
    assert [u["key"] for u in dry.json[0]["unaccounted"]] == [lost]
    assert checks.ids_pyiceberg(audited.catalog, audited.ident) == list(range(3 * ROWS)), "a dry run converts nothing"

    r = audited.reconcile()
    assert r.returncode == 0, r.describe()
    assert r.json[0]["converted"] == 1, r.json
    code, table = audited.audit()
    assert code == 0 and table["held"] == 4, table
    assert checks.ids_pyiceberg(audited.catalog, audited.ident) == list(range(4 * ROWS))

    # Once held, a second sweep has nothing to do.
    again = audited.reconcile()
    assert again.json[0]["unaccounted"] == [] and again.json[0]["held"] == 4, again.json


def test_an_object_that_cannot_convert_is_recorded_by_the_sweep_and_then_accounted_for(audited):
    healthy(audited, objects=1)
    bad = audited.put(b"PAR1 this is not parquet PAR1")
    r = audited.reconcile()
    assert r.returncode == 3, r.describe()
    assert bad in r.stderr, r.describe()
    code, table = audited.audit()
    assert code == 0, table
    assert (table["held"], table["recorded"], table["unaccounted"]) == (1, 1, []), table


def test_a_deleted_data_file_is_found(audited, s3):
    healthy(audited)
    victim = data_files(audited)[0].file_path
    s3.delete_file(checks.strip_scheme(victim))
    code, table = audited.audit()
    assert code == 2, table
    assert table["missing_files"] == [victim], table
    assert any("restore them" in f for f in table["fixes"]), table["fixes"]


def test_a_duplicate_manifest_entry_is_found(audited):
    healthy(audited)
    table = audited.catalog.load_table(audited.ident)
    twice = data_files(audited)[0]
    # Another writer appends an existing data file again: its rows would be read twice.
    with table.transaction() as tx:
        with tx.update_snapshot().fast_append() as append:
            append.append_data_file(twice)
    code, report = audited.audit()
    assert code == 2, report
    assert report["duplicate_files"] == [twice.file_path], report
    assert any("rewrite_manifests" in f for f in report["fixes"]), report["fixes"]
