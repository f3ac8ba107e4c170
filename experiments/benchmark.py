"""Benchmarks: `python -m experiments.benchmark SUITE [options]`.

SUITE is one of memory, envs, train, players, recall, probe, seeds or all.

Each suite lives in `experiments/benchmarks/<suite>.py` and exposes `main(argv)`; the speed
suites print a table with a ratio against a baseline measured in the same run, because shared
machines are noisy. `recall` trains agents at several lags (minutes to hours) and compares
memory kinds against the chance level; `probe` looks, before any training, at where the cue
is when the recall question comes (kept, found, decodable); `seeds` tells whether a seed's
initial parameters or the rest of its randomness decides whether its run learns. `all` runs the
other suites only (`memory`, `envs`, `train`, `players`), so run `recall`, `probe` and `seeds`
by name.
"""

from __future__ import annotations

import importlib
import sys

SUITES = ("memory", "envs", "train", "players", "recall", "probe", "seeds")
#: Suites that `all` leaves out: they train agents for minutes, not measure speed for seconds.
NOT_IN_ALL = ("recall", "probe", "seeds")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("suites:", ", ".join(SUITES), "or all (without", ", ".join(NOT_IN_ALL) + ")")
        return
    suite, rest = argv[0], argv[1:]
    if suite not in (*SUITES, "all"):
        raise SystemExit(f"unknown benchmark suite {suite!r}; choose one of {SUITES + ('all',)}")
    names = [s for s in SUITES if s not in NOT_IN_ALL] if suite == "all" else [suite]
    for name in names:
        module = importlib.import_module(f"experiments.benchmarks.{name}")
        module.main(rest)


if __name__ == "__main__":
    main()
