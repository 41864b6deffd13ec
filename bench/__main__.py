"""Run the benchmarks named on the command line, or all of them."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    print("no benchmarks registered yet")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
