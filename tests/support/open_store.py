"""One process that opens a state store at a signal: ``python -m tests.support.open_store URL``.

It imports everything first and prints ``ready``, then waits for a line on its standard input,
so that a test can start many of them and let them all open the same store at the same moment.
It prints ``opened`` and exits 0, or prints the error on one line and exits 1.
"""

from __future__ import annotations

import sys

from tasks.store import Store


def main(url: str) -> int:
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        Store(url).close()
    except Exception as exc:
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
        return 1
    print("opened", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
