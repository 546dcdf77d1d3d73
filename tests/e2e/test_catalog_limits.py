"""The CLI within R2 Data Catalog's documented limits (issue 8): writers that race on one table and more
commits than a table may take in a minute all finish, every row once.

These tests run against a rules layer of their own (stack/r2-rules/main.mjs on an ephemeral port, in front of
the stack's SeaweedFS) with every documented rule on, whatever the rest of the run relaxed: 20 updateTable
per table per minute, 120 writes per catalog, 10 creates, `429` with `Retry-After: 60`, and the loser of
overlapping commits answered `400 ConcurrentUpdateError`. Commits are held 1.5 s there so that writers
started together really overlap. The layer's counters (`GET /_rules/stats`) show what happened.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import checks
import cli
import datagen

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_MAIN = REPO_ROOT / "stack" / "r2-rules" / "main.mjs"
TOKEN = "e2e-documented-rules-token"


def _get_json(url: str, token: str | None = None) -> dict:
    req = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"} if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(req, timeout=10) as r:
        return json.load(r)


@dataclass
class RulesLayer:
    url: str
    icepipe: cli.Icepipe

    def table_stats(self, ident: str) -> dict:
        return _get_json(f"{self.url}/_rules/stats")["tables"].get(ident, {})


@pytest.fixture(scope="module")
def documented(stack) -> RulesLayer:
    try:
        upstream = _get_json(f"{stack.catalog_uri}/_rules/stats")["config"]["upstream"]
    except OSError as e:
        pytest.fail(f"the stack's catalog is not the R2 rules layer ({stack.catalog_uri}/_rules/stats: {e}); "
                    "start it with ICEPIPE_STACK_CATALOG=r2 (the default)", pytrace=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key, _, secret = (stack.credential or f"{stack.access_key}:{stack.secret_key}").partition(":")
    # The documented limits: nothing of a relaxed run (ICEPIPE_STACK_R2_* in scripts/test) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICEPIPE_STACK_R2_")}
    env.update(
        ICEPIPE_STACK_R2_PORT=str(port),
        ICEPIPE_STACK_R2_UPSTREAM=upstream,
        ICEPIPE_STACK_KEY=key,
        ICEPIPE_STACK_SECRET=secret,
        ICEPIPE_STACK_TOKEN=TOKEN,
        ICEPIPE_STACK_R2_S3_ENDPOINT=stack.s3_endpoint,
        ICEPIPE_STACK_R2_COMMIT_LATENCY_MS="1500",
    )
    proc = subprocess.Popen(["node", str(RULES_MAIN)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get_json(f"{url}/_rules/health")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the rules layer did not start on {url}: {proc.stderr.read() if proc.poll() is not None else 'no answer in 30 s'}")
                time.sleep(0.2)
        cli_env = {k: v for k, v in stack.env.items() if k != "ICEPIPE_CATALOG_CREDENTIAL"}
        cli_env.update(ICEPIPE_CATALOG_URI=url, ICEPIPE_CATALOG_TOKEN=TOKEN)
        yield RulesLayer(url, cli.Icepipe(stack.binary, cli_env, REPO_ROOT))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(420)
def test_eight_writers_racing_on_one_table_all_land(documented, raw, new_table, catalog, stack):
    ident = new_table()
    seed = raw.put("seed.parquet", datagen.simple_table(50, 1_000_000, seed=1))
    documented.icepipe.convert([seed], table=ident).ok()
    files = [raw.put(f"w{i}.parquet", datagen.simple_table(300, i * 1000, seed=10 + i)) for i in range(8)]

    procs = [documented.icepipe.popen_convert([f], table=ident) for f in files]
    results = [p.wait(timeout=400) for p in procs]
    outs = [r.ok().for_table(ident) for r in results]  # all exit 0

    assert [o["rows"] for o in outs] == [300] * 8, outs
    assert len({o["snapshot_id"] for o in outs}) == 8, f"each writer commits its own snapshot: {outs}"
    expected = list(range(1_000_000, 1_000_050)) + [i * 1000 + j for i in range(8) for j in range(300)]
    checks.assert_ids(stack, catalog, ident, expected)  # none lost, none twice

    stats = documented.table_stats(ident)
    assert len(checks.snapshot_ids(catalog, ident)) == 9, "the seed's snapshot and one per writer"
    assert stats["concurrentUpdateErrors"] >= 1, f"the writers never overlapped, so no race was tested: {stats}"
    assert stats["commits"]["admitted"]["maxInAnyWindow"] <= 20, stats
    # The waits were said out loud: a lost race or a 429 is a note on stderr, never an error.
    assert any("another writer committed to" in r.stderr for r in results), [r.stderr[-500:] for r in results]


@pytest.mark.timeout(420)
def test_thirty_conversions_in_a_minute_all_land(documented, raw, new_table, catalog, stack):
    """More commits than a table may take in 60 s (20): the ones past the limit wait out Retry-After."""
    ident = new_table()
    files = [raw.put(f"m{i}.parquet", datagen.simple_table(100, i * 1000, seed=100 + i)) for i in range(30)]
    documented.icepipe.convert([files[0]], table=ident).ok()  # creates the table

    started = time.monotonic()
    procs = []
    for i, f in enumerate(files[1:], start=1):
        # 29 more, spread over about 40 s: well past 20 commits in one minute.
        time.sleep(max(0.0, started + i * 1.4 - time.monotonic()))
        procs.append(documented.icepipe.popen_convert([f], table=ident))
    results = [p.wait(timeout=400) for p in procs]
    outs = [r.ok().for_table(ident) for r in results]
    assert all(o["rows"] == 100 for o in outs), outs

    checks.assert_ids(stack, catalog, ident, [i * 1000 + j for i in range(30) for j in range(100)])
    stats = documented.table_stats(ident)
    assert len(checks.snapshot_ids(catalog, ident)) == 30, "one snapshot per conversion"
    assert stats["rejected"].get("updateTable-per-table", 0) >= 1, f"the per-table limit was never met: {stats}"
    assert stats["commits"]["admitted"]["maxInAnyWindow"] <= 20, stats
    assert any("for its rate limit" in r.stderr and "Retry-After" in r.stderr for r in results), (
        "a process that met the limit says so while it waits", [r.stderr[-500:] for r in results])
