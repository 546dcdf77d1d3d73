"""Small checks shared by the e2e tests."""

from __future__ import annotations

import json

import readers


def table_exists(catalog, ident: str) -> bool:
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        catalog.load_table(ident)
        return True
    except (NoSuchTableError, NoSuchNamespaceError):
        return False


def set_properties(catalog, ident: str, **props) -> None:
    """Sets table properties through the catalog (PyIceberg's transaction)."""
    table = catalog.load_table(ident)
    with table.transaction() as tx:
        tx.set_properties({k: str(v) for k, v in props.items()})


def maintain(icepipe, ident: str) -> list[dict]:
    """`icepipe maintain --table <ident> --json`: the steps it reports."""
    return [o for o in icepipe.run("maintain", "--table", ident, "--json").ok().json if isinstance(o, dict)]


def current_snapshot_id(catalog, ident: str):
    snap = catalog.load_table(ident).current_snapshot()
    return None if snap is None else snap.snapshot_id


def ids_pyiceberg(catalog, ident: str) -> list:
    return catalog.load_table(ident).scan(selected_fields=("id",)).to_arrow().column("id").to_pylist()


def ids_duckdb(stack, ident: str) -> list:
    con = readers.duckdb_connect(stack, attach=True)
    return [r[0] for r in con.execute(f"SELECT id FROM {readers.duckdb_table_ref(ident)}").fetchall()]


def assert_ids(stack, catalog, ident: str, expected_ids) -> None:
    """PyIceberg and DuckDB (through the catalog) both see exactly `expected_ids`, each once."""
    expected = sorted(expected_ids)
    for reader, got in (("pyiceberg", ids_pyiceberg(catalog, ident)), ("duckdb", ids_duckdb(stack, ident))):
        got = sorted(got)
        if got != expected:
            dups = len(got) - len(set(got))
            raise AssertionError(
                f"{reader} sees {len(got)} rows ({dups} duplicated ids) in {ident}, expected {len(expected)}; "
                f"missing e.g. {sorted(set(expected) - set(got))[:5]}, unexpected e.g. {sorted(set(got) - set(expected))[:5]}"
            )


def ledger_file(s3, location: str, kind: str) -> dict:
    """The JSON body of an icepipe ledger file (an Avro container with one {kind, body} record)."""
    import io

    import fastavro

    records = list(fastavro.reader(io.BytesIO(read_bytes(s3, location))))
    assert len(records) == 1 and records[0]["kind"] == kind, f"{location} is not a ledger {kind} file"
    return json.loads(records[0]["body"])


def raw_object_keys(s3, snapshot_summary: dict) -> list[str]:
    """Keys of the raw objects a snapshot added, as its ledger records them."""
    return [key for key, _ in raw_object_ids(s3, snapshot_summary)]


def raw_object_ids(s3, snapshot_summary: dict) -> list[tuple[str, str]]:
    """(key, eTag) of the raw objects a snapshot added, as its ledger records them: the summary's
    `icepipe.ledger` index names the delta segment holding exactly that snapshot's objects."""
    pointer = snapshot_summary.get("icepipe.ledger")
    assert pointer is not None, f"snapshot summary lacks icepipe.ledger: {snapshot_summary}"
    index = ledger_file(s3, pointer, "index")
    if index.get("added") is None:
        return []
    segment = ledger_file(s3, index["added"], "segment")
    for suffix, etag in segment["entries"]:
        assert suffix is not None and etag, f"bad ledger entry {suffix!r} {etag!r}"
    assert int(snapshot_summary["icepipe.raw-objects-added"]) == len(segment["entries"]), snapshot_summary
    return [(segment["prefix"] + suffix, etag) for suffix, etag in segment["entries"]]


def key_matches(recorded: str, url: str, bucket: str) -> bool:
    """A recorded raw-object key names the s3:// URL `url`: either the bare key or the URL itself."""
    key = url[len(f"s3://{bucket}/") :]
    return recorded in (key, url)


def snapshot_ids(catalog, ident: str) -> list:
    return [s.snapshot_id for s in catalog.load_table(ident).metadata.snapshots]


def read_json_object(s3, location: str) -> dict:
    """A JSON file (e.g. the table's metadata.json) read straight from S3, as the catalog stored it."""
    with s3.open_input_stream(strip_scheme(location)) as f:
        return json.loads(f.read())


def read_bytes(s3, location: str) -> bytes:
    with s3.open_input_stream(strip_scheme(location)) as f:
        return f.read()


def strip_scheme(location: str) -> str:
    for scheme in ("s3://", "s3a://", "s3n://"):
        if location.startswith(scheme):
            return location[len(scheme) :]
    raise AssertionError(f"not an s3 location: {location}")


def table_metadata(catalog, s3, ident: str) -> dict:
    """The current metadata.json of `ident`, exactly as stored (not re-serialized by PyIceberg)."""
    return read_json_object(s3, catalog.load_table(ident).metadata_location)


def snapshot_from_metadata(meta: dict, snapshot_id: int) -> dict:
    snaps = [s for s in meta.get("snapshots", []) if s["snapshot-id"] == snapshot_id]
    assert len(snaps) == 1, f"snapshot {snapshot_id} not in metadata (has {[s['snapshot-id'] for s in meta.get('snapshots', [])]})"
    return snaps[0]


def no_problems(problems: list[str]) -> None:
    """Fail with just the list of problems (no tracebacks full of large fixture values)."""
    import pytest

    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def same_object(location: str, given: str) -> bool:
    """An object location reported by icepipe names the input `given` (an s3:// URL must be reported as
    given; a local path may come back absolute/resolved or as a file:// URL)."""
    if location == given:
        return True
    if given.startswith("s3://"):
        return False
    from pathlib import Path

    loc = location[len("file://") :] if location.startswith("file://") else location
    return Path(loc).resolve() == Path(given).resolve()


def place(transport: str, raw, tmp_path, name: str, data) -> tuple[str, str]:
    """Put `data` (bytes or a pyarrow.Table) where icepipe can read it: in the raw bucket (transport "s3")
    or in a local file ("local"). Returns (the argument for icepipe, the text naming the object that an
    error message must contain: the key for s3, the path for local files)."""
    import pyarrow as pa

    import datagen

    if transport == "s3":
        url = raw.put(name, data)
        return url, url.split("/", 3)[3]
    if isinstance(data, pa.Table):
        data = datagen.parquet_bytes(data)
    path = tmp_path / name
    path.write_bytes(data)
    return str(path), str(path)
