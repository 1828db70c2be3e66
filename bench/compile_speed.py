"""Measure how long compiling every shipped policy takes (median of repeated runs).

Run: .venv/bin/python bench/compile_speed.py [--repeats 15]
Each repeat compiles all policies under policies/ in a fresh parser-cache-warm process
state, i.e. what `tenet check` does per file after start-up; the cold first run (grammar
construction included) is reported separately.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tenet.compiler.pipeline import compile_policy  # noqa: E402


def shipped_policies() -> list[Path]:
    """Every policy file under policies/ (the std library included)."""
    return sorted((REPO / "policies").rglob("*.policy"))


def compile_all(paths: list[Path]) -> float:
    """Compile every policy once; return the wall time in seconds."""
    start = time.perf_counter()
    for path in paths:
        result = compile_policy(path)
        if not result.ok:
            raise SystemExit(f"{path} does not compile; run `tenet check {path}`")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    paths = shipped_policies()
    cold = compile_all(paths)
    times = [compile_all(paths) for _ in range(args.repeats)]
    median = statistics.median(times)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}, "
          f"date {date.today()}")
    print(f"policies: {len(paths)} files")
    print(f"cold (grammar build + first compile): {cold * 1000:.0f} ms")
    print(f"warm median of {args.repeats}: {median * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
          f"max {max(times) * 1000:.0f})")
    print(f"target < 1000 ms: {'PASS' if median < 1.0 and cold < 1.0 else 'FAIL'}")


if __name__ == "__main__":
    main()
