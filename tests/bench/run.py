"""Run every benchmark (or those named): ``uv run python tests/bench/run.py [NAME...]``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCHMARKS = ("import_csv", "scan_fleet", "console")


def main(names: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    failed = 0
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
        module = importlib.import_module(f"tests.bench.{name}")
        failed += module.main() != 0
        print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
