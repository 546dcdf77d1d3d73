"""Checks that the Iceberg tables of an API source hold exactly the API's records.

  check_ingest.py --api URL --root NS [--source api_jsonplaceholder] [--resources posts,comments,users]

Fetches every record of each resource from the API itself (`?_page=N&_limit=1000` until an empty page) and
reads the tables `<root>.<source>.<resource>` with two independent readers, PyIceberg and DuckDB (ATTACH
through the REST catalog), using tests/e2e/readers.py. For every reader and table:
  - the set of `id`s equals the API's, and no id is present twice;
  - the mapped scalar columns (MAPPINGS) hold the API's values for every record, with the Arrow type the
    JSON normalization gives them (ISO-8601 strings as UTC timestamps, compared as instants);
  - for posts, the child table `<root>.<source>.posts__tags` joined on `_parent_row_id` = posts `_row_id`
    and ordered by `_list_idx` (which must run 0..n-1) equals each post's `tags` (name, weight).

Stack settings come from the environment as for check_table.py (`source .icepipe/stack.env`).
Prints one JSON object {"ok", "problems" (the first 20), "problem_count", "tables": {table: {reader: rows}}}.
Exit 0 when ok, 1 when not (a missing table is a problem), 2 on usage/setup errors (bad arguments, stack
settings missing, API or catalog unreachable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_table  # noqa: E402  (stack_from_env; it also puts tests/e2e on sys.path)
import readers  # noqa: E402

PAGE_LIMIT = 1000
MAX_PROBLEMS = 20
READERS = ("pyiceberg", "duckdb")
TS = pa.timestamp("us", tz="UTC")


class SetupError(Exception):
    """Usage or environment problem: exit 2."""


@dataclass(frozen=True)
class Column:
    name: str  # column in the table
    path: tuple[str, ...]  # keys in the API record
    type: pa.DataType  # Arrow type the JSON normalization gives the values


def col(name: str, path: str, type_: pa.DataType = pa.string()) -> Column:
    return Column(name, tuple(path.split(".")), type_)


# Spelled out rather than derived, so that a change in the naming/flattening rules shows up here.
MAPPINGS: dict[str, list[Column]] = {
    "posts": [
        col("id", "id", pa.int64()),
        col("user_id", "userId", pa.int64()),
        col("title", "title"),
        col("body", "body"),
        col("updated_at", "updated_at", TS),
    ],
    "comments": [
        col("id", "id", pa.int64()),
        col("post_id", "postId", pa.int64()),
        col("name", "name"),
        col("email", "email"),
        col("body", "body"),
        col("updated_at", "updated_at", TS),
    ],
    "users": [
        col("id", "id", pa.int64()),
        col("name", "name"),
        col("username", "username"),
        col("email", "email"),
        col("address__city", "address.city"),
        # a JSON string in the API ("-37.3159"), so text, not a float
        col("address__geo__lat", "address.geo.lat"),
        col("company__name", "company.name"),
        col("updated_at", "updated_at", TS),
    ],
}
# posts[].tags[] -> child table posts__tags; weights are JSON numbers with two decimals, so float64.
TAG_TYPES = {"_parent_row_id": pa.string(), "_list_idx": pa.int64(), "name": pa.string(), "weight": pa.float64()}


# --------------------------------------------------------------------------------------------------
# the API side


def _opener(url: str):
    # The local sample API is on loopback: do not send it through an HTTP proxy from the environment.
    host = urllib.parse.urlsplit(url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def fetch_all(api: str, resource: str) -> list[dict]:
    """Every record of `resource`, page by page until an empty page."""
    opener, records, seen = _opener(api), [], set()
    page = 1
    while True:
        url = f"{api.rstrip('/')}/{resource}?_page={page}&_limit={PAGE_LIMIT}"
        try:
            with opener.open(url, timeout=60) as r:
                batch = json.load(r)
        except (OSError, ValueError) as e:
            raise SetupError(f"API: GET {url} failed: {e}") from None
        if not isinstance(batch, list):
            raise SetupError(f"API: GET {url} did not return a JSON array")
        if not batch:
            return records
        # An API that ignores _page would hand back the same page forever.
        keys = [json.dumps(r, sort_keys=True) for r in batch]
        if all(k in seen for k in keys):
            raise SetupError(f"API: GET {url} repeats the previous records (does it honour _page?)")
        seen.update(keys)
        records.extend(batch)
        page += 1


def _dig(record: dict, path: tuple[str, ...]):
    value = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _instant(value):
    """An ISO-8601 string as an aware UTC datetime (naive means UTC, as in the normalizer)."""
    if not isinstance(value, str):
        return value
    t = dt.datetime.fromisoformat(value)
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def expected_table(records: list[dict], columns: list[Column]) -> pa.Table:
    """The API's records as the table the mapped columns should hold."""
    arrays = {}
    for c in columns:
        values = [_dig(r, c.path) for r in records]
        if pa.types.is_timestamp(c.type):
            values = [_instant(v) for v in values]
        arrays[c.name] = pa.array(values, type=c.type)
    return pa.table(arrays)


def expected_tags(posts: list[dict]) -> dict[int, list[tuple[str, float]]]:
    """Post id -> its tags as (name, weight), in array order."""
    return {p["id"]: [(t.get("name"), t.get("weight")) for t in p.get("tags") or []] for p in posts}


# --------------------------------------------------------------------------------------------------
# comparisons (each returns a list of problems, empty when fine)


def check_ids(label: str, got: list, want: list) -> list[str]:
    """Same id set, no null and no duplicate ids."""
    problems = []
    if None in got:
        problems.append(f"{label}: {got.count(None)} rows with a null id")
    counts = defaultdict(int)
    for i in got:
        counts[i] += 1
    dups = sorted(i for i, n in counts.items() if n > 1 and i is not None)
    if dups:
        problems.append(f"{label}: {len(dups)} ids present more than once, e.g. {dups[:5]}")
    missing = sorted(set(want) - set(counts))
    extra = sorted(set(counts) - set(want) - {None})
    if missing:
        problems.append(f"{label}: {len(missing)} API ids missing, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{label}: {len(extra)} ids not in the API, e.g. {extra[:5]}")
    return problems


def check_values(label: str, reader: str, table: pa.Table, expected: pa.Table) -> list[str]:
    """Types and values of the mapped columns, record by record (readers.compare: per-column checksums
    over rows in id order, reporting the first differing record)."""
    want = readers.source_canonical([expected])
    return readers.compare(label, table, expected.schema, want, quirks=readers.READER_QUIRKS.get(reader))


def check_tags(label: str, posts: pa.Table, tags: pa.Table, want: dict[int, list]) -> list[str]:
    """Child rows joined to their post (same reader) equal each post's tags, in `_list_idx` order."""
    problems = []
    for name, t in TAG_TYPES.items():
        if name not in tags.column_names:
            return [f"{label}: column {name} missing (has {tags.column_names})"]
        p = readers.type_problem(t, tags.schema.field(name).type, name)
        if p:
            problems.append(f"{label}: {p}")
    if problems:
        return problems
    post_of_row = dict(zip(posts.column("_row_id").to_pylist(), posts.column("id").to_pylist()))
    got = defaultdict(list)
    orphans = []
    cols = [tags.column(n).to_pylist() for n in ("_parent_row_id", "_list_idx", "name", "weight")]
    for parent, idx, name, weight in zip(*cols):
        if parent not in post_of_row:
            orphans.append(parent)
            continue
        got[post_of_row[parent]].append((idx, name, weight))
    if orphans:
        problems.append(f"{label}: {len(orphans)} rows whose _parent_row_id is no posts _row_id, e.g. {orphans[:3]}")
    bad = []
    for post_id in sorted(set(want) | set(got)):
        rows = sorted(got.get(post_id, []), key=lambda r: (r[0] is None, r[0]))
        if [r[0] for r in rows] != list(range(len(rows))):
            bad.append(f"post {post_id}: _list_idx {[r[0] for r in rows]}, expected {list(range(len(rows)))}")
        elif [(n, w) for _, n, w in rows] != want.get(post_id, []):
            bad.append(f"post {post_id}: tags {[(n, w) for _, n, w in rows]}, expected {want.get(post_id, [])}")
    if bad:
        problems.append(f"{label}: {len(bad)} posts with wrong tags, e.g. " + "; ".join(bad[:3]))
    return problems


# --------------------------------------------------------------------------------------------------
# the table side


class Tables:
    """Reads tables with PyIceberg and DuckDB, one catalog and one DuckDB connection for all."""

    def __init__(self, stack):
        try:
            self.catalog = readers.load_catalog(stack)
            self.duck = readers.duckdb_connect(stack, attach=True)
        except Exception as e:  # noqa: BLE001 - any failure to reach the catalog is a setup error
            raise SetupError(f"catalog: cannot connect to {stack.catalog_uri}: {type(e).__name__}: {e}") from None
        self.stack = stack

    def exists(self, ident: str) -> bool:
        return self.catalog.table_exists(ident)

    def read(self, ident: str) -> tuple[dict[str, pa.Table], list[str]]:
        """{reader: table} for the readers that could read it, and problems for those that could not."""
        got, problems = {}, []
        read = {
            "pyiceberg": lambda: readers.read_pyiceberg(self.catalog, ident),
            "duckdb": lambda: readers.read_duckdb_attach(self.stack, ident, con=self.duck),
        }
        for reader in READERS:
            try:
                got[reader] = read[reader]()
            except Exception as e:  # noqa: BLE001 - a reader failing on the table is a finding
                problems.append(f"{ident} [{reader}]: read failed: {type(e).__name__}: {e}")
        return got, problems


def check_resource(
    tables: Tables, ident: str, records: list[dict], columns: list[Column], out: dict
) -> tuple[list[str], dict[str, pa.Table]]:
    """One resource's table against the API's records, for every reader: (problems, {reader: table read})."""
    if not tables.exists(ident):
        return [f"{ident}: table missing (the API has {len(records)} records)"], {}
    got, problems = tables.read(ident)
    expected = expected_table(records, columns)
    want_ids = expected.column("id").to_pylist()
    for reader, table in got.items():
        out[ident][reader] = table.num_rows
        label = f"{ident} [{reader}]"
        if "id" not in table.column_names:
            problems.append(f"{label}: no id column (has {table.column_names})")
            continue
        id_problems = check_ids(label, table.column("id").to_pylist(), want_ids)
        # values are compared record by record only once the records are the same ones
        problems += id_problems or check_values(label, reader, table, expected)
    return problems, got


def check_posts_tags(
    tables: Tables, ident: str, posts: dict[str, pa.Table], records: list[dict], out: dict
) -> list[str]:
    """The child table against the posts' tags, joined to the posts table of the same reader."""
    want = expected_tags(records)
    if not tables.exists(ident):
        n = sum(len(v) for v in want.values())
        # no post with tags means no child rows, so no child table: that is right
        return [f"{ident}: table missing (the API's posts have {n} tags)"] if n else []
    got, problems = tables.read(ident)
    for reader, table in got.items():
        out[ident][reader] = table.num_rows
        if reader not in posts or "_row_id" not in posts[reader].column_names:
            problems.append(f"{ident} [{reader}]: cannot join: the posts table has no _row_id")
            continue
        problems += check_tags(f"{ident} [{reader}]", posts[reader], table, want)
    return problems


# --------------------------------------------------------------------------------------------------


class JsonArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise SetupError(f"usage: {message}")


def parse_args(argv):
    ap = JsonArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", required=True, help="base URL of the API, e.g. http://127.0.0.1:8790")
    ap.add_argument("--root", required=True, help="namespace root the tables were converted under")
    ap.add_argument("--source", default="api_jsonplaceholder")
    ap.add_argument("--resources", default=",".join(MAPPINGS))
    args = ap.parse_args(argv)
    args.resources = [r.strip() for r in args.resources.split(",") if r.strip()]
    unknown = [r for r in args.resources if r not in MAPPINGS]
    if unknown or not args.resources:
        raise SetupError(f"usage: --resources must be some of {','.join(MAPPINGS)}, got {unknown or 'none'}")
    return args


def run(args) -> dict:
    stack = check_table.stack_from_env()  # prints its own JSON and exits 2 when settings are missing
    records = {r: fetch_all(args.api, r) for r in args.resources}
    tables = Tables(stack)
    out: dict[str, dict[str, int]] = {}
    problems = []
    for resource in args.resources:
        ident = f"{args.root}.{args.source}.{resource}"
        out[ident] = {}
        found, got = check_resource(tables, ident, records[resource], MAPPINGS[resource], out)
        problems += found
        if resource == "posts":
            child = f"{ident}__tags"
            out[child] = {}
            problems += check_posts_tags(tables, child, got, records[resource], out)
    return {"ok": not problems, "problems": problems[:MAX_PROBLEMS], "problem_count": len(problems), "tables": out}


def main(argv=None) -> int:
    try:
        result = run(parse_args(argv))
    except SetupError as e:
        print(json.dumps({"ok": False, "problems": [str(e)], "problem_count": 1, "tables": {}}))
        return 2
    except Exception as e:  # noqa: BLE001 - e.g. the catalog going away mid-run: still one JSON object
        problem = f"error: {type(e).__name__}: {e}"
        print(json.dumps({"ok": False, "problems": [problem], "problem_count": 1, "tables": {}}))
        return 2
    print(json.dumps(result, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
