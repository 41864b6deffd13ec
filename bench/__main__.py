"""Run the benchmarks: `python -m bench [name ...] [-- options]` (all when none is named).

Each benchmark is a module `bench/<name>.py` with `async def run(argv: list[str]) -> int`
that prints its own table, including ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

BENCHMARKS: tuple[str, ...] = ("audit", "graph", "http", "flags", "mso", "matching", "checkpoints")


def main(argv: list[str]) -> int:
    names, _, options = (
        (argv[: argv.index("--")], None, argv[argv.index("--") + 1 :])
        if ("--" in argv)
        else (argv, None, [])
    )
    selected = names or list(BENCHMARKS)
    unknown = [n for n in selected if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    status = 0
    for name in selected:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n=== {name} ===", flush=True)
        status |= asyncio.run(module.run(options))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
