"""First run: a fresh clone of this checkout's HEAD to the demo's first table, as a new user meets it.

`scripts/demo` in a clone with nothing of ours cached: an empty CARGO_HOME (crates.io index and
crates downloaded, worker-build and wasm-bindgen compiled), its own target dir, venv and npm cache,
and a stack of its own on other ports. The Rust toolchain with the wasm32 target, clang, Node and
Python are the machine's (the machine kind has them). Every line the demo prints is timestamped;
the phases come from the lines the scripts log ("... installed in N s", "compiled in N s", ...).

Full runs only: it compiles everything from scratch (10+ minutes on 2 cores) and needs crates.io.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from lib.context import Context
from lib.log import log
from lib.result import SKIPPED, CaseResult, Table, verdict

TARGET_SECONDS = 600
# Ports of the clone's own stack: the benchmarks' stack keeps the defaults.
CATALOG_PORT, S3_PORT = 41181, 41333
# The demo's first table: the convert Worker has committed the first run's raw files.
FIRST_TABLE = re.compile(r"^\d+ raw files converted")
# (phase, the line that ends it, the group with its own seconds if the line says)
PHASES = [
    ("Python venv (SeaweedFS, readers; beside the build)", re.compile(r"venv ready in (\d+) s")),
    ("cargo install worker-build", re.compile(r"worker-build \S+ installed in (\d+) s")),
    ("cargo install wasm-bindgen-cli", re.compile(r"wasm-bindgen-cli \S+ installed in (\d+) s")),
    ("npm ci (wrangler, Miniflare, esbuild)", re.compile(r"node_modules ready in (\d+) s")),
    ("both Workers compiled (tools installed beside it)", re.compile(r"compiled in (\d+) s")),
    ("worker-build: convert Worker", re.compile(r"convert Worker built in (\d+) s")),
    ("worker-build: ingest Worker", re.compile(r"ingest Worker built in (\d+) s")),
]


def run(ctx: Context) -> CaseResult:
    title = "first run: fresh clone to the demo's first table"
    target = f"at most {TARGET_SECONDS // 60} minutes on this machine"
    if ctx.quick:
        return CaseResult(key="first_run", title=title, target=target, verdict=SKIPPED, measured="full runs only (a build from scratch)")
    work = Path(tempfile.mkdtemp(prefix="icepipe-first-run-", dir=os.environ.get("TMPDIR")))
    try:
        clone = work / "icepipe"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ctx.root), str(clone)], check=True)
        head = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
        lines, seconds = _timed_demo(clone, _fresh_env(work))
        return _result(title, target, head, lines, seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fresh_env(work: Path) -> dict[str, str]:
    """This process's environment without anything that points at our caches or our stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICEPIPE_", "AWS_", "CARGO_", "VIRTUAL_ENV", "npm_config_"))}
    cargo_home = work / "cargo-home"
    (cargo_home / "bin").mkdir(parents=True)
    # The fresh CARGO_HOME's bin first, so the demo runs the tools it installed, not ours.
    env["PATH"] = f"{cargo_home / 'bin'}:{env['PATH']}"
    env["CARGO_HOME"] = str(cargo_home)
    env["npm_config_cache"] = str(work / "npm-cache")
    env["PIP_NO_CACHE_DIR"] = "1"
    env["ICEPIPE_STACK_CATALOG_PORT"] = str(CATALOG_PORT)
    env["ICEPIPE_STACK_S3_PORT"] = str(S3_PORT)
    return env


def _timed_demo(clone: Path, env: dict[str, str]) -> tuple[list[tuple[float, str]], float]:
    """Runs scripts/demo; every output line with its seconds since the start. Raises on failure."""
    log(f"first_run: scripts/demo in a fresh clone ({clone}); compiles everything, 10+ minutes")
    start = time.monotonic()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen([str(clone / "scripts" / "demo")], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        assert p.stdout is not None
        for line in p.stdout:
            lines.append((time.monotonic() - start, line.rstrip("\n")))
    seconds = time.monotonic() - start
    if p.returncode != 0:
        tail = "\n".join(text for _, text in lines[-30:])
        raise RuntimeError(f"scripts/demo in a fresh clone failed (exit {p.returncode}):\n{tail}")
    return lines, seconds


def _result(title: str, target: str, head: str, lines: list[tuple[float, str]], seconds: float) -> CaseResult:
    first_table = next((at for at, text in lines if FIRST_TABLE.match(text)), None)
    if first_table is None:
        raise RuntimeError("scripts/demo finished without the line that says the first raw files were converted")
    rows = []
    for name, pattern in PHASES:
        hit = next(((at, m) for at, text in lines if (m := pattern.search(text))), None)
        # A phase with no line did not run (its tool was already in place).
        rows.append([name, f"{int(hit[1].group(1))} s" if hit else "not run", f"{hit[0]:.0f} s" if hit else ""])
    rows.append(["**first table** (`N raw files converted`)", "", f"**{first_table:.0f} s**"])
    rows.append(["demo finished (second run, merge, readers)", "", f"{seconds:.0f} s"])
    minutes = first_table / 60
    return CaseResult(
        key="first_run",
        title=title,
        target=target,
        measured=f"{minutes:.1f} min to the first table ({seconds / 60:.1f} min to the demo's end)",
        verdict=verdict(first_table <= TARGET_SECONDS),
        tables=[
            Table(
                ["phase", "its own time", "ended at (since the clone)"],
                rows,
                caption=f"`scripts/demo` in a fresh clone of {head}: empty CARGO_HOME, target dir, venv and npm cache.",
            )
        ],
        notes=[
            "The phases overlap: the venv installs beside the build, and cargo compiles the Workers "
            "while worker-build and wasm-bindgen-cli install (scripts/build-workers).",
            "Not included: the Rust toolchain and wasm32 target, clang and Node, which the machine "
            "kind provides; pip installs from the machine's wheel directory (PIP_FIND_LINKS) when set.",
        ],
    )
