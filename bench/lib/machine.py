"""The machine and the versions a report was measured with (for BENCHMARKS.md's header)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

from lib.stack import ROOT


def _out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gib() -> str:
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        return f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        return "?"


def _os() -> str:
    try:
        return re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text()).group(1)
    except (OSError, AttributeError):
        return platform.system()


def _pkg(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _npm(name: str) -> str:
    try:
        return json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def describe(icepipe: str, profile: str) -> list[tuple[str, str]]:
    """(what, value) rows: machine, then versions."""
    commit = _out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _out(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    weed = ROOT / ".icepipe" / "venv" / "bin" / "weed"
    return [
        ("CPU", f"{_cpu()}, {os.cpu_count()} cores (shared with other work: see the ranges)"),
        ("memory", _mem_gib()),
        ("OS", f"{_os()}, Linux {platform.release()}"),
        ("icepipe", f"{_out([icepipe, '--version'])} at commit {commit}{' (with uncommitted changes)' if dirty else ''}, {profile} profile"),
        ("Rust", _out(["rustc", "--version"])),
        ("Python", platform.python_version()),
        ("PyIceberg / pyarrow", f"{_pkg('pyiceberg')} / {_pkg('pyarrow')}"),
        ("dlt", _pkg("dlt")),
        ("Node / Miniflare / workerd", f"{_out(['node', '--version'])} / {_npm('miniflare')} / {_npm('workerd')}"),
        ("SeaweedFS (catalog + S3)", _out([str(weed), "version"]).replace("version ", "") if weed.exists() else "?"),
    ]
