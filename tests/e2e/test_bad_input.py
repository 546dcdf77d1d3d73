"""Objects that are not readable Parquet are rejected by name and commit nothing; with --skip-invalid the
good objects of the same call are committed and the bad ones reported."""

from __future__ import annotations

import io
import random

import pyarrow.parquet as pq
import pytest

import checks
import datagen


def _good(seed=0, n=800, first=0) -> bytes:
    return datagen.parquet_bytes(datagen.simple_table(n, first, seed=seed))


def corrupt_footer() -> bytes:
    """Real file, footer metadata overwritten with 0xFF (magic numbers and footer length kept)."""
    data = bytearray(_good(1))
    footer_len = int.from_bytes(data[-8:-4], "little")
    start = len(data) - 8 - footer_len
    data[start : len(data) - 8] = b"\xff" * footer_len
    return bytes(data)


def garbage_between_magic() -> bytes:
    """`PAR1` + random bytes + a plausible footer length + `PAR1`."""
    rng = random.Random(42)
    body = rng.randbytes(6000)
    return b"PAR1" + body + (1500).to_bytes(4, "little") + b"PAR1"


def corrupt_pages() -> bytes:
    """Real file with an intact footer, the column chunks after the leading magic overwritten."""
    data = bytearray(_good(3))
    footer_len = int.from_bytes(data[-8:-4], "little")
    end = len(data) - 8 - footer_len
    data[4:end] = bytes((i * 131 + 7) % 256 for i in range(end - 4))
    return bytes(data)


def truncated() -> bytes:
    data = _good(2)
    return data[: len(data) // 2]


def csv_text() -> bytes:
    return b"id,name,value\n1,a,0.5\n2,b,1.5\n3,c,2.5\n"


BAD = {
    "corrupt_footer": corrupt_footer,
    "garbage_between_magic": garbage_between_magic,
    "corrupt_pages": corrupt_pages,
    "truncated": truncated,
    "csv": csv_text,
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_inputs_are_not_parquet_to_pyarrow(kind):
    """The fixtures themselves: pyarrow must fail on them too (else the tests below prove nothing)."""
    with pytest.raises(Exception):
        pq.read_table(io.BytesIO(BAD[kind]()))


@pytest.mark.parametrize("transport", ["s3", "local"])
@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_object_rejected_new_table(kind, transport, icepipe, raw, tmp_path, new_table, catalog):
    ident = new_table()
    arg, name = checks.place(transport, raw, tmp_path, f"bad_{kind}.parquet", BAD[kind]())
    r = icepipe.convert([arg], table=ident).failed()
    assert name in r.stderr, f"stderr does not name the object {name}\n{r.describe()}"
    if checks.table_exists(catalog, ident):
        assert catalog.load_table(ident).metadata.snapshots == [], "a snapshot was committed for a bad object"


@pytest.mark.parametrize("transport", ["s3", "local"])
def test_bad_object_blocks_whole_call(transport, icepipe, raw, tmp_path, new_table, catalog, stack):
    """Without --skip-invalid, one bad object among good ones: nothing of the call is committed."""
    ident = new_table()
    first, _ = checks.place(transport, raw, tmp_path, "good0.parquet", _good(3, 500, 0))
    icepipe.convert([first], table=ident).ok()
    before = checks.current_snapshot_id(catalog, ident)

    good, _ = checks.place(transport, raw, tmp_path, "good1.parquet", _good(4, 700, 10_000))
    bad, bad_name = checks.place(transport, raw, tmp_path, "bad.parquet", truncated())
    r = icepipe.convert([good, bad], table=ident).failed()
    assert bad_name in r.stderr, r.describe()
    assert checks.current_snapshot_id(catalog, ident) == before, "something was committed despite a bad object"
    checks.assert_ids(stack, catalog, ident, range(500))


@pytest.mark.parametrize("transport", ["s3", "local"])
def test_skip_invalid_commits_good_reports_bad(transport, icepipe, raw, tmp_path, new_table, catalog, stack, s3):
    ident = new_table()
    good, _ = checks.place(transport, raw, tmp_path, "good.parquet", _good(5, 900, 0))
    bad, bad_name = checks.place(transport, raw, tmp_path, "bad.csv.parquet", csv_text())
    r = icepipe.convert([good, bad], table=ident, skip_invalid=True)
    # `icepipe convert --help`: "Commit the objects that convert and report the others (exit code 3)"
    assert r.returncode == 3, f"--skip-invalid with a bad object should exit 3\n{r.describe()}"
    out = r.for_table(ident)
    assert isinstance(out["snapshot_id"], int), r.describe()
    assert out["rows"] == 900, out
    assert len(out["objects"]) == 1 and checks.same_object(out["objects"][0], good), out
    assert bad_name in r.stderr, f"the bad object is not reported on stderr\n{r.describe()}"
    if "failed" in out:  # the JSON may list it too
        assert [checks.same_object(f["object"], bad) for f in out["failed"]] == [True], out["failed"]
    checks.assert_ids(stack, catalog, ident, range(900))
    summary = catalog.load_table(ident).current_snapshot().summary
    keys = checks.raw_object_keys(s3, summary)
    assert len(keys) == 1, keys

