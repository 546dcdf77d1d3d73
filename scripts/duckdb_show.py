"""Show what independent readers see in icepipe tables of the local stack.

Usage: python scripts/duckdb_show.py [--rows N] [--ids ID,...] [--columns C,...] [--no-snapshots] TABLE [TABLE ...]
       (after `source .icepipe/stack.env`; TABLE like analytics.api_jsonplaceholder.posts)

DuckDB reads through the REST catalog (ATTACH ... TYPE ICEBERG): row counts and a few rows; with
--ids, per table rows and distinct ids (a merge table holds one row per id) and the rows of those
ids (naming the ones it does not hold); --columns shows only those columns (the ones a table has).
PyIceberg lists each table's snapshots (operation, added
and total records).
"""
import argparse
import os

import duckdb
import duckdb_extensions

# Columns left out of the sample rows: long text and the ingest's bookkeeping ids.
HIDDEN = {"body", "description", "_row_id", "_parent_row_id", "_load_id"}


def connect():
    con = duckdb.connect()
    # avro before iceberg: iceberg would otherwise try to download avro from the internet.
    for ext in ("httpfs", "avro", "iceberg"):
        duckdb_extensions.import_extension(ext, con=con)
        con.execute(f"LOAD {ext}")
    con.execute("SET TimeZone = 'UTC'")
    env = os.environ
    endpoint = env["ICEPIPE_S3_ENDPOINT"].split("://", 1)[-1]
    con.execute(
        "CREATE SECRET s3 (TYPE S3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false)".replace(
            "?", "'{}'"
        ).format(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_REGION", "us-east-1"), endpoint)
    )
    # The static token when the stack has one (the R2 rules layer), else OAuth2 client credentials.
    if env.get("ICEPIPE_CATALOG_TOKEN"):
        auth = f"TOKEN '{env['ICEPIPE_CATALOG_TOKEN']}'"
    else:
        client_id, client_secret = env["ICEPIPE_CATALOG_CREDENTIAL"].split(":", 1)
        auth = (
            f"CLIENT_ID '{client_id}', CLIENT_SECRET '{client_secret}', "
            f"OAUTH2_SERVER_URI '{env['ICEPIPE_CATALOG_URI'].rstrip('/')}/v1/oauth/tokens'"
        )
    con.execute(f"CREATE SECRET ice (TYPE ICEBERG, {auth})")
    con.execute(
        f"ATTACH '{env['ICEPIPE_WAREHOUSE']}' AS ice (TYPE ICEBERG, ENDPOINT '{env['ICEPIPE_CATALOG_URI']}', SECRET ice)"
    )
    return con


def ref(table: str) -> str:
    namespace, name = table.rsplit(".", 1)
    return f'ice."{namespace}"."{name}"'


def show_counts(con, tables: list[str]) -> None:
    print("-- DuckDB: SELECT count(*) per table")
    width = max(len(t) for t in tables)
    for table in tables:
        rows = con.execute(f"SELECT count(*) FROM {ref(table)}").fetchone()[0]
        print(f"  {table:<{width}}  {rows:>8} rows")


def shown_columns(con, table: str, only: list[str] | None) -> str:
    """The columns to print: `only` (those the table has, in that order), else all but HIDDEN."""
    columns = [r[0] for r in con.execute(f"DESCRIBE {ref(table)}").fetchall()]
    picked = [c for c in only if c in columns] if only else [c for c in columns if c not in HIDDEN]
    return ", ".join(f'"{c}"' for c in picked)


def show_rows(con, table: str, limit: int, only: list[str] | None) -> None:
    columns = [r[0] for r in con.execute(f"DESCRIBE {ref(table)}").fetchall()]
    shown = shown_columns(con, table, only)
    order = '"id"' if "id" in columns else '"_list_idx"' if "_list_idx" in columns else "1"
    print(f"\n-- DuckDB: {limit} rows of {table}")
    print(con.sql(f"SELECT {shown} FROM {ref(table)} ORDER BY {order} LIMIT {limit}"))


def show_ids(con, table: str, ids: list[int], only: list[str] | None) -> None:
    shown = shown_columns(con, table, only)
    rows, distinct = con.execute(f'SELECT count(*), count(DISTINCT "id") FROM {ref(table)}').fetchone()
    print(f"\n-- DuckDB: {table}: {rows} rows, {distinct} distinct ids; rows of ids {ids}")
    listed = ", ".join(str(int(i)) for i in ids)
    print(con.sql(f'SELECT {shown} FROM {ref(table)} WHERE "id" IN ({listed}) ORDER BY "id"'))
    held = {r[0] for r in con.execute(f'SELECT DISTINCT "id" FROM {ref(table)} WHERE "id" IN ({listed})').fetchall()}
    absent = [i for i in ids if i not in held]
    if absent:
        print(f"  no row for id {', '.join(map(str, absent))}")


def show_snapshots(tables: list[str]) -> None:
    from pyiceberg.catalog import load_catalog

    env = os.environ
    catalog = load_catalog(
        "icepipe",
        type="rest",
        uri=env["ICEPIPE_CATALOG_URI"],
        warehouse=env["ICEPIPE_WAREHOUSE"],
        **({"token": env["ICEPIPE_CATALOG_TOKEN"]} if env.get("ICEPIPE_CATALOG_TOKEN") else {"credential": env["ICEPIPE_CATALOG_CREDENTIAL"]}),
        **{
            "s3.endpoint": env["ICEPIPE_S3_ENDPOINT"],
            "s3.access-key-id": env["AWS_ACCESS_KEY_ID"],
            "s3.secret-access-key": env["AWS_SECRET_ACCESS_KEY"],
            "s3.region": env.get("AWS_REGION", "us-east-1"),
        },
    )
    print("\n-- PyIceberg: snapshots (oldest first)")
    for table in tables:
        t = catalog.load_table(table)
        print(f"  {table}")
        for s in t.snapshots():
            summary = s.summary
            # Summary.get answers None (not the default) for a missing key.
            field = lambda key, default: (summary.get(key) if summary else None) or default  # noqa: E731
            op = summary.operation.value if summary else "?"
            added, deleted, total = field("added-records", "0"), field("deleted-records", "0"), field("total-records", "?")
            print(f"    {s.snapshot_id:>20}  {op:<9} +{added:>6} -{deleted:>6}  = {total:>6} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tables", nargs="+")
    parser.add_argument("--rows", type=int, default=3, help="sample rows per table (0: none)")
    parser.add_argument("--ids", type=lambda s: [int(i) for i in s.split(",")], help="show these ids' rows")
    parser.add_argument("--columns", type=lambda s: s.split(","), help="show only these columns")
    parser.add_argument("--no-snapshots", action="store_true")
    args = parser.parse_args()
    con = connect()
    show_counts(con, args.tables)
    for table in args.tables if args.rows > 0 else []:
        show_rows(con, table, args.rows, args.columns)
    for table in args.tables if args.ids else []:
        show_ids(con, table, args.ids, args.columns)
    if not args.no_snapshots:
        show_snapshots(args.tables)


if __name__ == "__main__":
    main()
