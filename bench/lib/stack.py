"""The local stack (SeaweedFS: Iceberg REST catalog + S3) as the benchmarks use it: its settings,
a PyIceberg catalog on it, and cleaning up after a measurement.

Every measurement writes a fresh table (tens of MB to GBs); a full run would fill the disk if those
stayed, and SeaweedFS turns read-only below 1% free. So tables are purged right after they are
measured, and SeaweedFS's volumes vacuumed (it reclaims deleted bytes only on a vacuum).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from functools import cache
from pathlib import Path

from lib.log import log

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / ".icepipe"
STACK_ENV = STATE_DIR / "stack.env"
WEED_PID = STATE_DIR / "stack" / "weed.pid"


def stack_env() -> dict[str, str]:
    """os.environ, with .icepipe/stack.env filling what it lacks (as the harness does)."""
    env = dict(os.environ)
    if STACK_ENV.exists():
        for line in STACK_ENV.read_text().splitlines():
            m = re.match(r"\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$", line)
            if m:
                env.setdefault(m.group(1), m.group(2).strip().strip("'\""))
    if "ICEPIPE_CATALOG_URI" not in env:
        raise SystemExit(f"no stack settings (ICEPIPE_CATALOG_URI) in the environment or {STACK_ENV}: scripts/stack start")
    return env


def catalog_properties(env: dict[str, str]) -> dict[str, str]:
    """PyIceberg REST catalog properties for the stack (also used by the peer scripts): the static
    token when the stack has one (the R2 rules layer), else OAuth2 client credentials."""
    token = env.get("ICEPIPE_CATALOG_TOKEN")
    return {
        "type": "rest",
        "uri": env["ICEPIPE_CATALOG_URI"],
        "warehouse": env["ICEPIPE_WAREHOUSE"],
        **({"token": token} if token else {"credential": env["ICEPIPE_CATALOG_CREDENTIAL"]}),
        "s3.endpoint": env["ICEPIPE_S3_ENDPOINT"],
        "s3.access-key-id": env["AWS_ACCESS_KEY_ID"],
        "s3.secret-access-key": env["AWS_SECRET_ACCESS_KEY"],
        "s3.region": env.get("AWS_REGION", "us-east-1"),
    }


@cache
def catalog():
    from pyiceberg.catalog import load_catalog

    return load_catalog("bench", **catalog_properties(stack_env()))


def snapshot_count(ident: str) -> int:
    return len(catalog().load_table(ident).metadata.snapshots)


# Vacuuming costs seconds; do it once this many bytes were purged (the disk has GBs to spare).
VACUUM_EVERY_BYTES = 1 << 30
_purged_bytes = 0


def purge(ident: str, nbytes: int = 0) -> None:
    """Drops `ident` and deletes its files (about `nbytes`); a missing table is fine."""
    global _purged_bytes
    from pyiceberg.exceptions import NoSuchTableError

    try:
        catalog().purge_table(ident)
    except NoSuchTableError:
        return
    _purged_bytes += nbytes
    if _purged_bytes >= VACUUM_EVERY_BYTES:
        vacuum()


def s3_filesystem():
    """The stack's S3 as a pyarrow filesystem (paths are `bucket/key`)."""
    import pyarrow.fs as pafs

    env = stack_env()
    return pafs.S3FileSystem(
        endpoint_override=env["ICEPIPE_S3_ENDPOINT"],
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env.get("AWS_REGION", "us-east-1"),
        scheme="http" if env["ICEPIPE_S3_ENDPOINT"].startswith("http://") else "https",
    )


def delete_raw_prefix(prefix: str) -> None:
    """Deletes every object under `prefix` in the raw bucket (what an ingest run landed)."""
    env = stack_env()
    s3_filesystem().delete_dir_contents(f"{env.get('ICEPIPE_RAW_BUCKET', 'raw')}/{prefix.strip('/')}", missing_dir_ok=True)


def purge_namespace_tree(root: str) -> None:
    """Purges every table under namespace `root` (any depth), then drops the namespaces."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    c = catalog()

    def walk(ns: tuple[str, ...]) -> None:
        try:
            children = c.list_namespaces(ns)
            tables = c.list_tables(ns)
        except NoSuchNamespaceError:
            return
        for child in children:
            walk(tuple(child))
        for t in tables:
            purge(".".join(t))
        try:
            c.drop_namespace(ns)
        except Exception as e:  # a namespace someone else still uses is left alone
            log(f"note: namespace {'.'.join(ns)} not dropped: {e}")

    walk((root,))
    vacuum()


def vacuum() -> None:
    """Asks SeaweedFS's master to reclaim deleted bytes now. Best effort: a stack we cannot reach
    this way (not ours, no `ss`) just keeps the bytes until its own periodic vacuum."""
    global _purged_bytes
    _purged_bytes = 0
    port = _master_port()
    if port is None:
        return
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/vol/vacuum?garbageThreshold=0.0001", timeout=300) as r:
            r.read()
    except OSError as e:
        log(f"note: SeaweedFS vacuum failed: {e}")


@cache
def _master_port() -> int | None:
    # weed mini runs master, volume, filer and S3 in one process and moves ports when taken: find
    # the master among the process's listening ports by the answer only it gives.
    try:
        pid = WEED_PID.read_text().strip()
        out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    ports = sorted({int(m.group(1)) for line in out.splitlines() if f"pid={pid}," in line for m in [re.search(r"127\.0\.0\.1:(\d+)", line)] if m})
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/cluster/status", timeout=2) as r:
                if "IsLeader" in json.loads(r.read() or b"{}"):
                    return port
        except (OSError, ValueError):
            continue
    return None


def duckdb_con():
    """A DuckDB connection with the iceberg extension, reading the stack's S3."""
    import duckdb
    import duckdb_extensions

    env = stack_env()
    con = duckdb.connect()
    for ext in ("httpfs", "avro", "iceberg"):
        duckdb_extensions.import_extension(ext, con=con)
        con.execute(f"LOAD {ext}")
    endpoint = env["ICEPIPE_S3_ENDPOINT"].split("://", 1)[-1].rstrip("/")
    con.execute(
        f"CREATE SECRET s (TYPE S3, KEY_ID '{env['AWS_ACCESS_KEY_ID']}', SECRET '{env['AWS_SECRET_ACCESS_KEY']}', "
        f"REGION 'us-east-1', ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false)"
    )
    return con
