"""icepipe benchmarks: runs the cases against the local stack and writes BENCHMARKS.md.

Run through scripts/bench (it builds the CLI and the Worker, installs the peers and provides the
stack); see `scripts/bench --help`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from lib import machine, report, stack
from lib.context import FULL, QUICK, Context
from lib.log import log
from lib.result import FAILED, CaseResult

# Run order: the ingest case depends on a colleague's sample API and goes last.
CASES = ["convert", "worker_convert", "memory", "commit_latency", "small_files", "month_of_minutes", "worker_size", "ingest", "wide", "sustained", "merge", "first_run"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes, 2 pairs: checks that every case runs")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    p.add_argument("--pairs", type=int, help="override the number of interleaved pairs")
    p.add_argument("--icepipe", required=True, help="the icepipe CLI binary")
    p.add_argument("--profile", default="release", help="cargo profile of --icepipe (for the report)")
    p.add_argument("--out", help="write the report here (default: print a summary only)")
    p.add_argument("--command", default="scripts/bench", help="the command line to name in the report")
    p.add_argument("--keep-tables", action="store_true", help="do not purge the run's namespace at the end")
    args = p.parse_args()

    sizes = QUICK if args.quick else FULL
    if args.pairs:
        sizes = replace(sizes, pairs=args.pairs, memory_pairs=min(args.pairs, sizes.memory_pairs))
    ctx = Context(sizes=sizes, quick=args.quick, icepipe=str(Path(args.icepipe).resolve()), env=stack.stack_env(), python=sys.executable)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(wanted) - set(CASES)
    if unknown:
        p.error(f"unknown case(s): {', '.join(sorted(unknown))}")

    log(f"namespace {ctx.namespace}, {sizes.pairs} pairs, cases: {', '.join(wanted)}")
    start = time.monotonic()
    results: list[CaseResult] = []
    try:
        for name in [c for c in CASES if c in wanted]:
            log(f"=== {name}")
            module = importlib.import_module(f"cases.{name}")
            try:
                results.append(module.run(ctx))
            except Exception as e:  # one broken case must not hide the others' numbers
                traceback.print_exc()
                results.append(CaseResult(key=name, title=name, target="", measured=f"failed: {str(e).splitlines()[0][:200]}", verdict=FAILED))
            log(f"{name}: {results[-1].verdict}: {results[-1].measured}")
    finally:
        if not args.keep_tables:
            stack.purge_namespace_tree(ctx.namespace)

    seconds = time.monotonic() - start
    if args.out:
        text = report.render(results, machine.describe(ctx.icepipe, args.profile), args.command, sizes.pairs, seconds)
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    print("\nbenchmarks: " + ("quick run (sizes too small to mean anything)" if args.quick else "full run"))
    for r in results:
        print(f"  {r.verdict:8} {r.title}: {r.measured} (target: {r.target or '-'})")
    failed = [r.key for r in results if r.verdict == FAILED]
    if failed:
        print(f"FAILED cases: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
