"""Shared fixtures of the end-to-end suite: the local stack (Iceberg REST catalog + S3), the icepipe binary,
raw-object uploads and independent readers.

The stack is described by environment variables (written by `scripts/stack` into `.icepipe/stack.env`; when
a variable is not in the environment it is read from that file). A missing variable, an unreachable catalog
or S3 endpoint, or a missing binary makes every test that needs them ERROR with a message saying what is
missing: this suite never skips (only test_readers_selfcheck.py, which checks the checksum code itself,
runs without a stack). The raw bucket is created if the stack lacks it.
"""

from __future__ import annotations

import os
import shlex
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest

import cli
import datagen
import readers

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_ENV_FILE = REPO_ROOT / ".icepipe" / "stack.env"
E2E_NAMESPACE = "e2e"

REQUIRED_ENV = [
    "ICEPIPE_CATALOG_URI",
    "ICEPIPE_WAREHOUSE",
    "ICEPIPE_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "ICEPIPE_RAW_BUCKET",
]


def _read_env_file(path: Path) -> dict[str, str]:
    out = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            continue
        try:
            parts = shlex.split(value)
            value = parts[0] if parts else ""
        except ValueError:
            pass
        out[key.strip()] = value
    return out


@dataclass
class Stack:
    catalog_uri: str
    warehouse: str
    token: str | None  # static bearer token (the R2 rules layer; R2 Data Catalog's way); wins when set
    credential: str | None  # OAuth2 client credentials id:secret
    s3_endpoint: str
    access_key: str
    secret_key: str
    region: str
    raw_bucket: str
    binary: Path
    env: dict = field(repr=False)  # environment for the icepipe processes

    def raw_url(self, key: str) -> str:
        return f"s3://{self.raw_bucket}/{key}"


def _stack_problem() -> tuple[Stack | None, str | None]:
    # Values missing from the environment come from the stack's env file; they are exported to this process
    # too, so that pyarrow and DuckDB see the same settings (e.g. AWS_EC2_METADATA_DISABLED) as icepipe.
    for k, v in _read_env_file(STACK_ENV_FILE).items():
        os.environ.setdefault(k, v)
    env = dict(os.environ)
    missing = [k for k in REQUIRED_ENV if not env.get(k)]
    if not env.get("ICEPIPE_CATALOG_TOKEN") and not env.get("ICEPIPE_CATALOG_CREDENTIAL"):
        missing.append("ICEPIPE_CATALOG_TOKEN or ICEPIPE_CATALOG_CREDENTIAL")
    if missing:
        return None, (
            f"e2e environment incomplete: {', '.join(missing)} not set (looked in the environment and in "
            f"{STACK_ENV_FILE}{'' if STACK_ENV_FILE.exists() else ', which does not exist'}). "
            "Start the local stack with scripts/stack and source .icepipe/stack.env."
        )
    binary = Path(env.get("ICEPIPE_BIN") or "target/debug/icepipe")
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None, (
            f"icepipe binary not found or not executable at {binary} "
            "(set ICEPIPE_BIN, or build it with `cargo build -p icepipe-cli`)."
        )
    stack = Stack(
        catalog_uri=env["ICEPIPE_CATALOG_URI"].rstrip("/"),
        warehouse=env["ICEPIPE_WAREHOUSE"],
        token=env.get("ICEPIPE_CATALOG_TOKEN") or None,
        credential=env.get("ICEPIPE_CATALOG_CREDENTIAL") or None,
        s3_endpoint=env["ICEPIPE_S3_ENDPOINT"].rstrip("/"),
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env["AWS_REGION"],
        raw_bucket=env["ICEPIPE_RAW_BUCKET"],
        binary=binary,
        env=env,
    )
    for what, url in (
        ("Iceberg REST catalog", f"{stack.catalog_uri}/v1/config"),
        ("S3 endpoint", f"{stack.s3_endpoint}/"),
    ):
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
            opener.open(url, timeout=5).close()
        except urllib.error.HTTPError:
            pass  # it answers (S3 says 403 to an unsigned request)
        except OSError as e:
            return None, f"{what} not reachable at {url}: {e}. Is the local stack running (scripts/stack)?"
    return stack, None


@pytest.fixture(scope="session")
def stack() -> Stack:
    s, problem = _stack_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    return s


@pytest.fixture(scope="session")
def icepipe(stack) -> cli.Icepipe:
    return cli.Icepipe(stack.binary, stack.env, REPO_ROOT)


@pytest.fixture(scope="session")
def catalog(stack):
    return readers.load_catalog(stack)


@pytest.fixture(scope="session")
def s3(stack):
    from pyarrow import fs

    scheme, _, host = stack.s3_endpoint.partition("://")
    s3fs = fs.S3FileSystem(
        endpoint_override=host,
        scheme=scheme,
        access_key=stack.access_key,
        secret_key=stack.secret_key,
        region=stack.region,
        allow_bucket_creation=True,
    )
    info = s3fs.get_file_info(stack.raw_bucket)
    if info.type == fs.FileType.NotFound:
        s3fs.create_dir(stack.raw_bucket)
    return s3fs


def pytest_runtest_makereport(item, call):
    if call.when == "call" and call.excinfo is not None:
        item.e2e_failed = True


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


class Raw:
    """Uploads raw objects under a prefix unique to the test."""

    def __init__(self, stack: Stack, s3fs, prefix: str):
        self.stack, self.s3, self.prefix = stack, s3fs, prefix

    def put(self, name: str, data: bytes | pa.Table, absolute_key: bool = False) -> str:
        """Upload `data` (bytes, or a table written as Parquet) as `<prefix>/<name>` (or `name` itself with
        absolute_key) and return its s3:// URL."""
        key = name if absolute_key else f"{self.prefix}/{name}"
        if isinstance(data, pa.Table):
            data = datagen.parquet_bytes(data)
        with self.s3.open_output_stream(f"{self.stack.raw_bucket}/{key}") as f:
            f.write(data)
        return self.stack.raw_url(key)


@pytest.fixture
def raw(stack, s3, run_id) -> Raw:
    return Raw(stack, s3, f"e2e/{run_id}")


@pytest.fixture
def new_table(request, catalog):
    """A factory of unique table identifiers `e2e.e2e_<hex8>`; tables are dropped after a passing test
    (kept after a failure, for inspection)."""
    made: list[str] = []

    def make(namespace: str = E2E_NAMESPACE) -> str:
        ident = f"{namespace}.e2e_{uuid.uuid4().hex[:8]}"
        made.append(ident)
        return ident

    yield make
    if getattr(request.node, "e2e_failed", False) or os.environ.get("ICEPIPE_E2E_KEEP"):
        return
    for ident in made:
        try:
            catalog.drop_table(ident)
        except Exception:
            pass


@pytest.fixture(scope="module")
def module_table(request, catalog):
    """One unique table identifier for a whole module (dropped at the end unless a test of it failed)."""
    ident = f"{E2E_NAMESPACE}.e2e_{uuid.uuid4().hex[:8]}"
    failed_before = request.session.testsfailed
    yield ident
    if request.session.testsfailed != failed_before or os.environ.get("ICEPIPE_E2E_KEEP"):
        return
    try:
        catalog.drop_table(ident)
    except Exception:
        pass


@pytest.fixture(scope="module")
def module_raw(stack, s3) -> Raw:
    return Raw(stack, s3, f"e2e/{uuid.uuid4().hex[:8]}")
