"""What every case gets: the sizes of this run (full or --quick), the tools, the stack, a scratch
namespace and data directory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from lib.stack import ROOT, STATE_DIR


@dataclass(frozen=True)
class Sizes:
    pairs: int
    convert_rows: int  # the convert and the Worker-vs-native cases
    memory_rows: tuple[tuple[str, int], ...]  # (label, rows) of the memory case's files
    # Rounds of the memory case: peaks repeat within ~1% from run to run, and one round on the
    # 1 GB file costs minutes (the Worker's run most of all), so fewer rounds than `pairs`.
    memory_pairs: int
    latency_levels: tuple[int, ...]  # snapshots in the table before the measured commit
    small_files: int
    small_file_rows: int
    ingest_records: int
    cold_starts: int
    # "A month of minutes": one small commit per file, over `month_days` days of raw layout.
    month_commits: int
    month_peer_commits: int  # PyIceberg per-file appends (they slow down as history grows)
    # The unmaintained baseline's commits: every one loads and rewrites the whole history, so
    # its 10,000th commit alone is slow (5,076 took 46 min on 2 shared cores); the first files.
    month_bare_commits: int
    month_rows: int  # rows per minute file
    month_days: int
    month_maintain_every: int  # commits between two scheduled maintenance runs
    wide_columns: tuple[int, ...]  # widths of the wide case's raw files (the last is its target)
    wide_rows: int
    sustained_files: int  # the sustained case: files (of small_file_rows rows) into one table
    sustained_seconds: int  # spread evenly over this many seconds
    merge_rows: int  # the merge case: rows of the base table
    merge_files: int  # its data files ("days")
    merge_changes: int  # changed keys in the merge file (1% of them deletes)
    # Rounds of each merge side (a fresh table each): the median is reported, the peer's time
    # varied 2x between single runs.
    merge_rounds: int


# icepipe generate writes about 64 bytes per row (12 columns, zstd): 1M rows is about 64 MB, so
# the memory case's 100 MB and 1 GB files are 1.6M and 16M rows.
FULL = Sizes(
    pairs=5,
    convert_rows=1_000_000,
    memory_rows=(("100 MB", 1_600_000), ("1 GB", 16_000_000)),
    memory_pairs=3,
    latency_levels=(1, 100, 1000),
    # Not 1000: see bench/cases/small_files.py (PyIceberg's 1000 per-file appends take ~9 min a run).
    small_files=200,
    small_file_rows=1000,
    ingest_records=1_000_000,
    cold_starts=5,
    month_commits=10_000,
    month_peer_commits=2_000,
    month_bare_commits=2_000,
    month_rows=100,
    month_days=30,
    month_maintain_every=100,
    # Up to the target; a raw file wider than MAX_COLUMNS (2,048, crates/core/src/raw/limits.rs)
    # is refused with a recorded error before any column is decoded, so it measures nothing here.
    wide_columns=(100, 500, 1000, 2000),
    wide_rows=2000,
    sustained_files=1200,
    sustained_seconds=240,
    merge_rows=1_000_000,
    merge_files=25,
    merge_changes=10_000,
    merge_rounds=3,
)

# Small enough for scripts/test: every case runs end to end, the numbers mean nothing.
QUICK = Sizes(
    pairs=2,
    convert_rows=20_000,
    memory_rows=(("small", 20_000), ("10x", 200_000)),
    memory_pairs=2,
    latency_levels=(1, 5),
    small_files=10,
    small_file_rows=1000,
    ingest_records=2000,
    cold_starts=2,
    month_commits=48,
    month_peer_commits=12,
    month_bare_commits=48,
    month_rows=20,
    month_days=3,
    month_maintain_every=16,
    wide_columns=(100, 2000),
    wide_rows=100,
    sustained_files=12,
    sustained_seconds=6,
    merge_rows=10_000,
    merge_files=5,
    merge_changes=200,
    merge_rounds=1,
)


@dataclass
class Context:
    sizes: Sizes
    quick: bool
    icepipe: str  # the CLI binary
    env: dict[str, str]  # process environment with the stack settings
    python: str  # the venv's interpreter (peers run in it)
    namespace: str = field(default_factory=lambda: time.strftime("bench_%Y%m%d_%H%M%S"))
    root: Path = ROOT
    work: Path = STATE_DIR / "bench"

    def ident(self, case: str, name: str) -> str:
        """A table of this run: <run namespace>.<case>.<name>."""
        return f"{self.namespace}.{case}.{name}"

    @property
    def data_dir(self) -> Path:
        d = self.work / "data"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def scratch(self, name: str) -> Path:
        d = self.work / "run" / name
        d.mkdir(parents=True, exist_ok=True)
        return d
