"""Show what DuckDB sees in an icepipe table of the local stack: row count, a few rows, partitions.

Usage: python scripts/duckdb_show.py analytics.demo.events   (after `source .icepipe/stack.env`)
DuckDB reads through the REST catalog (ATTACH ... TYPE ICEBERG), independently of icepipe.
"""
import os
import sys

import duckdb
import duckdb_extensions


def connect():
    con = duckdb.connect()
    # avro before iceberg: iceberg would otherwise try to download avro from the internet.
    for ext in ("httpfs", "avro", "iceberg"):
        duckdb_extensions.import_extension(ext, con=con)
        con.execute(f"LOAD {ext}")
    con.execute("SET TimeZone = 'UTC'")
    env = os.environ
    endpoint = env["ICEPIPE_S3_ENDPOINT"].split("://", 1)[-1]
    client_id, client_secret = env["ICEPIPE_CATALOG_CREDENTIAL"].split(":", 1)
    con.execute(
        "CREATE SECRET s3 (TYPE S3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false)".replace(
            "?", "'{}'"
        ).format(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_REGION", "us-east-1"), endpoint)
    )
    con.execute(
        f"CREATE SECRET ice (TYPE ICEBERG, CLIENT_ID '{client_id}', CLIENT_SECRET '{client_secret}', "
        f"OAUTH2_SERVER_URI '{env['ICEPIPE_CATALOG_URI'].rstrip('/')}/v1/oauth/tokens')"
    )
    con.execute(
        f"ATTACH '{env['ICEPIPE_WAREHOUSE']}' AS ice (TYPE ICEBERG, ENDPOINT '{env['ICEPIPE_CATALOG_URI']}', SECRET ice)"
    )
    return con


def main(table: str) -> None:
    namespace, name = table.rsplit(".", 1)
    ref = f'ice."{namespace}"."{name}"'
    con = connect()
    print(f"-- DuckDB: SELECT count(*) FROM {table}")
    print(con.execute(f"SELECT count(*) AS rows FROM {ref}").fetchone()[0], "rows")
    print(f"\n-- DuckDB: a few rows of {table}")
    print(con.sql(f"SELECT * EXCLUDE (description) FROM {ref} ORDER BY id LIMIT 5"))
    print(f"\n-- DuckDB: rows per _loaded_at day (the partition)")
    print(con.sql(f"SELECT CAST(_loaded_at AS DATE) AS day, count(*) AS rows FROM {ref} GROUP BY 1 ORDER BY 1"))


if __name__ == "__main__":
    main(sys.argv[1])
