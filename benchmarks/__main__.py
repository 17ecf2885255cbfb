"""Run the benchmarks: ``python -m benchmarks [--smoke] [topic ...]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks
from benchmarks._common import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: prove they run")
    parser.add_argument("topics", nargs="*", help="bench_<topic> modules to run (default: all)")
    args = parser.parse_args(argv)
    names = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )
    unknown = set(args.topics) - set(names)
    if unknown:
        parser.error(f"unknown topic(s) {sorted(unknown)}; choose from {names}")
    for name in args.topics or names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.perf_counter()
        for table in module.run(smoke=args.smoke):
            print(render(table), flush=True)
        print(f"   ({name}: {time.perf_counter() - started:.1f} s)\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
