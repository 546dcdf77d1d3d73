"""Progress on stderr, in the style of scripts/lib.sh (`[icepipe] ...`)."""

import sys
import time

_START = time.monotonic()


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - _START:6.0f}s] {msg}", file=sys.stderr, flush=True)
