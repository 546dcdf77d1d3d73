"""Running the icepipe binary and reading its JSON output."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT = 180


def parse_json_stream(text: str) -> list:
    """All JSON values in `text`: NDJSON, several pretty-printed objects, or one array (flattened)."""
    dec = json.JSONDecoder()
    out, i, n = [], 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        value, i = dec.raw_decode(text, i)
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    _json: list | None = field(default=None, repr=False)

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\n-> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )

    def ok(self) -> "Result":
        assert self.returncode == 0, f"icepipe failed\n{self.describe()}"
        return self

    def failed(self) -> "Result":
        assert self.returncode != 0, f"icepipe was expected to fail but exited 0\n{self.describe()}"
        return self

    @property
    def json(self) -> list:
        if self._json is None:
            try:
                self._json = parse_json_stream(self.stdout)
            except json.JSONDecodeError as e:
                raise AssertionError(f"stdout is not JSON ({e})\n{self.describe()}") from None
        return self._json

    def for_table(self, ident: str) -> dict:
        """The `convert --json` object for table `ident` (exactly one)."""
        objs = [o for o in self.json if isinstance(o, dict) and o.get("table") == ident]
        assert len(objs) == 1, f"expected one JSON object for table {ident}, got {len(objs)}\n{self.describe()}"
        return objs[0]


class Icepipe:
    def __init__(self, binary: Path, env: dict, cwd: Path):
        self.binary = str(binary)
        self.env = env
        self.cwd = str(cwd)

    def argv(self, *args) -> list[str]:
        return [self.binary, *[str(a) for a in args]]

    def run(self, *args, timeout: float = DEFAULT_TIMEOUT) -> Result:
        argv = self.argv(*args)
        try:
            p = subprocess.run(
                argv, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                f"icepipe did not finish within {timeout}s: {' '.join(argv)}\nstderr so far: {e.stderr!r}"
            ) from None
        return Result(argv, p.returncode, p.stdout, p.stderr)

    @staticmethod
    def convert_args(inputs, table=None, skip_invalid=False, namespace_root=None, json_out=True) -> list[str]:
        args = ["convert"]
        if table:
            args += ["--table", table]
        if namespace_root:
            args += ["--namespace-root", namespace_root]
        if skip_invalid:
            args.append("--skip-invalid")
        if json_out:
            args.append("--json")
        args += [str(i) for i in inputs]
        return args

    def convert(self, inputs, table=None, skip_invalid=False, namespace_root=None, json_out=True, timeout=DEFAULT_TIMEOUT) -> Result:
        return self.run(*self.convert_args(inputs, table, skip_invalid, namespace_root, json_out), timeout=timeout)

    def popen_convert(self, inputs, table=None, **kw) -> "Running":
        argv = self.argv(*self.convert_args(inputs, table, **kw))
        p = subprocess.Popen(
            argv, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        return Running(argv, p)

    def tables(self) -> list[dict]:
        r = self.run("tables", "--json").ok()
        return [o for o in r.json if isinstance(o, dict)]

    def table_info(self, ident: str) -> dict:
        infos = [t for t in self.tables() if t.get("table") == ident]
        assert len(infos) == 1, f"`icepipe tables --json` lists {len(infos)} entries for {ident}"
        return infos[0]


class Running:
    def __init__(self, argv, popen: subprocess.Popen):
        self.argv = argv
        self.popen = popen

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> Result:
        try:
            out, err = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            out, err = self.popen.communicate()
            raise AssertionError(f"icepipe did not finish within {timeout}s: {' '.join(self.argv)}\n{err}") from None
        return Result(self.argv, self.popen.returncode, out, err)
