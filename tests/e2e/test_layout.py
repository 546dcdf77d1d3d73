"""Without --table, the table comes from the raw key layout
`sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<name>.parquet` -> `<root>.<source>.<resource>`."""

from __future__ import annotations

import os
import uuid

import pytest

import checks
import datagen
import readers


def _day_key(src, res, name, day="year=2026/month=11/day=24"):
    return f"sources/{src}/{res}/{day}/{name}"


@pytest.fixture
def src():
    return f"e2e_{uuid.uuid4().hex[:8]}"  # matches [a-z][a-z0-9_]{0,63}


@pytest.fixture
def layout_tables(request, catalog):
    """Tables (and the namespaces made for them) to drop after a passing test."""
    made = []
    yield made
    if getattr(request.node, "e2e_failed", False) or os.environ.get("ICEPIPE_E2E_KEEP"):
        return
    namespaces = set()
    for ident in made:
        parts = tuple(ident.split("."))
        namespaces.add(parts[:-1])
        if parts[0] != "analytics":
            namespaces.add(parts[:1])
        try:
            catalog.drop_table(ident)
        except Exception:
            pass
    for ns in sorted(namespaces, key=len, reverse=True):
        try:
            catalog.drop_namespace(ns)
        except Exception:
            pass


def test_table_from_layout(icepipe, raw, src, catalog, stack, layout_tables):
    orders = raw.put(_day_key(src, "orders", "a.parquet"), datagen.simple_table(600, 0, seed=1), absolute_key=True)
    orders2 = raw.put(
        _day_key(src, "orders", "b.parquet", "year=2026/month=11/day=25"), datagen.simple_table(50, 5000, seed=2), absolute_key=True
    )
    users = raw.put(_day_key(src, "users", "a.parquet"), datagen.simple_table(70, 0, seed=3), absolute_key=True)
    t_orders, t_users = f"analytics.{src}.orders", f"analytics.{src}.users"
    layout_tables += [t_orders, t_users]

    r = icepipe.convert([orders, users, orders2]).ok()
    tables = sorted(o["table"] for o in r.json)
    assert tables == sorted([t_orders, t_users]), f"one JSON object per table expected\n{r.describe()}"
    o, u = r.for_table(t_orders), r.for_table(t_users)
    assert sorted(o["objects"]) == sorted([orders, orders2]) and o["rows"] == 650, o
    assert u["objects"] == [users] and u["rows"] == 70, u
    assert isinstance(o["snapshot_id"], int) and isinstance(u["snapshot_id"], int)

    assert catalog.load_table(t_orders).name() == ("analytics", src, "orders")
    checks.assert_ids(stack, catalog, t_orders, list(range(600)) + list(range(5000, 5050)))
    checks.assert_ids(stack, catalog, t_users, range(70))
    assert readers.duckdb_count(stack, metadata_location=catalog.load_table(t_users).metadata_location) == 70
    assert len(checks.snapshot_ids(catalog, t_orders)) == 1

    listed = {t["table"] for t in icepipe.tables()}
    assert {t_orders, t_users} <= listed, f"`icepipe tables` does not list {t_orders}, {t_users}"


def test_namespace_root(icepipe, raw, src, catalog, stack, layout_tables):
    root = f"e2eroot_{uuid.uuid4().hex[:6]}"
    url = raw.put(_day_key(src, "events", "x.parquet"), datagen.simple_table(40, 0, seed=4), absolute_key=True)
    ident = f"{root}.{src}.events"
    layout_tables.append(ident)
    out = icepipe.convert([url], namespace_root=root).ok().for_table(ident)
    assert out["rows"] == 40, out
    checks.assert_ids(stack, catalog, ident, range(40))
    assert not checks.table_exists(catalog, f"analytics.{src}.events")


VIOLATIONS = {
    "bad_source_name": "sources/Bad-Name/x/year=2026/month=11/day=24/a.parquet",
    "bad_resource_name": "sources/{src}/Res-X/year=2026/month=11/day=24/a.parquet",
    "no_date_partitions": "sources/{src}/res/a.parquet",
    "year_not_yyyy": "sources/{src}/res/year=26/month=11/day=24/a.parquet",
    "not_dot_parquet": "sources/{src}/res/year=2026/month=11/day=24/a.csv",
    "outside_sources": "elsewhere/{src}/res/year=2026/month=11/day=24/a.parquet",
}


@pytest.mark.parametrize("key", list(VIOLATIONS.values()), ids=list(VIOLATIONS))
def test_layout_violation_fails(key, icepipe, raw, src, catalog):
    key = key.format(src=src)
    url = raw.put(key, datagen.simple_table(10, 0), absolute_key=True)
    r = icepipe.convert([url]).failed()
    assert key in r.stderr, f"stderr does not name the object {key}\n{r.describe()}"
    assert not checks.table_exists(catalog, f"analytics.{src}.res")
    assert not checks.table_exists(catalog, f"analytics.{src}.x")
