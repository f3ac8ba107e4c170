"""Benchmarks: `python -m experiments.benchmark {memory,envs,train,players,all} [options]`.

Each suite lives in `experiments/benchmarks/<suite>.py` and exposes `main(argv)`; every suite
prints a table with a ratio against a baseline measured in the same run, because shared
machines are noisy.
"""

from __future__ import annotations

import importlib
import sys

SUITES = ("memory", "envs", "train", "players")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("suites:", ", ".join(SUITES), "or all")
        return
    suite, rest = argv[0], argv[1:]
    if suite not in (*SUITES, "all"):
        raise SystemExit(f"unknown benchmark suite {suite!r}; choose one of {SUITES + ('all',)}")
    for name in SUITES if suite == "all" else (suite,):
        module = importlib.import_module(f"experiments.benchmarks.{name}")
        module.main(rest)


if __name__ == "__main__":
    main()
