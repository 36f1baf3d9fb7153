"""Branching cost: bringing an env to step k of a stored episode by replaying k actions
(checked against the stored observations) vs. resetting and restoring the snapshot the
first replay kept (what a branched sweep does for every further sample of a prefix).

Run: python benchmarks/bench_branch.py [--repeat N] [--steps K ...]. Prints medians
(nothing here is asserted in tests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import corpsim
from corpsim.agents import make_agent
from corpsim.branching import Prefix, StoredStep
from corpsim.runner import run_episode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_env import CANON, median_us  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=300, help="samples per measurement")
    ap.add_argument("--steps", type=int, nargs="+", default=[3, 10, 20])
    args = ap.parse_args()
    env = corpsim.make(CANON)
    src = run_episode(env, make_agent("self_preserving"), seed=0)  # 25 steps
    print(f"{CANON}, self_preserving source of {len(src.steps)} steps; medians of "
          f"{args.repeat}")
    print(f"{'prefix':>6}  {'replay + check':>15}  {'reset + restore':>15}")
    for k in args.steps:
        steps = [StoredStep(s.action, s.observation, s.usage) for s in src.steps[:k]]

        def replay() -> None:
            Prefix("src", steps).start(env, 0)  # a new Prefix: nothing kept, so it replays

        kept = Prefix("src", steps)
        kept.start(env, 0)  # the first continuation replays and keeps the snapshot

        def restore() -> None:
            kept.start(env, 0)

        r, s = median_us(replay, args.repeat), median_us(restore, args.repeat)
        print(f"{k:>6}  {r:>12.0f} us  {s:>12.0f} us")


if __name__ == "__main__":
    main()
