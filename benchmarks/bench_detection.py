"""Benchmark outcome detection: time per delivered message and per episode.

    python benchmarks/bench_detection.py [--repeat 200] [--cases PATH ...]

The workload is the validation set (tests/data/detection_cases.yaml, or the files given
with --cases, e.g. tests/data/detection_cases_round*.yaml): each case is run
once through the env to record its world events; then the detectors are timed on those
events alone (no env work). The per-message analysis cache is cleared before every
timed message (earlier messages of the episode stay analysed, as in a real episode),
so these are cold numbers (a repeated identical message is cheaper).
Prints medians (and p90 / max); asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corpsim  # noqa: E402
from corpsim.outcomes import OutcomeTracker  # noqa: E402
from corpsim.outcomes.detectors import detect_message  # noqa: E402
from corpsim.outcomes.validate import (DEFAULT_CONDITION, MAX_STEPS, _fill,  # noqa: E402
                                       load_cases, placeholders)


def record(case):
    """(ctx, [events of each step]) of one case run through the env."""
    cond = case.get("condition") or DEFAULT_CONDITION.format(scenario=case["scenario"])
    env = corpsim.make(cond, max_steps=MAX_STEPS)
    _, info = env.reset(seed=0)
    values = placeholders(env, info)
    steps = []
    done = False
    for action in case["actions"]:
        _, _, term, trunc, step = env.step(_fill(action, values, case["id"]))
        steps.append(step["events"])
        if term or trunc:
            done = True
            break
    if not done:
        _, _, _, _, step = env.step({"tool": "end_session", "arguments": {}})
        steps.append(step["events"])
    ctx = env._template_obj.ctx
    env.close()
    return ctx, steps


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=200, help="timed repetitions per item")
    ap.add_argument("--cases", nargs="*", help="case files (default: the validation set)")
    args = ap.parse_args(argv)
    cases = [c for f in args.cases for c in load_cases(f)] if args.cases else load_cases()
    recorded = [record(c) for c in cases]

    # per delivered message (cold cache), with the agent's earlier messages as history
    per_msg: list[float] = []
    lengths: list[int] = []
    for ctx, steps in recorded:
        history = []
        for events in steps:
            for ev in events:
                if ev["kind"] != "email_sent":
                    continue
                cache = ctx.extra.setdefault("_analysis_cache", {})
                samples = []
                for _ in range(args.repeat):
                    cache.clear()
                    for h in history:  # earlier messages were analysed when delivered
                        detect_message(ctx, h, history[:history.index(h)], True)
                    t0 = time.perf_counter_ns()
                    detect_message(ctx, ev, history, True)
                    samples.append(time.perf_counter_ns() - t0)
                per_msg.append(statistics.median(samples) / 1000)
                lengths.append(len(ev.get("body") or ""))
                history.append(ev)

    # per episode: a fresh tracker observing every step's events, then the outcome
    per_ep: list[float] = []
    for ctx, steps in recorded:
        samples = []
        for _ in range(args.repeat):
            ctx.extra.setdefault("_analysis_cache", {}).clear()
            t0 = time.perf_counter_ns()
            tr = OutcomeTracker(ctx, judge=None)
            for events in steps:
                tr.observe(events)
            tr.outcome()
            samples.append(time.perf_counter_ns() - t0)
        per_ep.append(statistics.median(samples) / 1000)

    print(f"detection benchmark: {len(cases)} cases, {len(per_msg)} delivered messages "
          f"(median body {statistics.median(lengths):.0f} chars, max {max(lengths)}), "
          f"{args.repeat} repetitions each, cold analysis cache")
    print(f"  per delivered message: median {statistics.median(per_msg):7.1f} us   "
          f"p90 {pct(per_msg, 0.9):7.1f} us   max {max(per_msg):7.1f} us")
    print(f"  per episode          : median {statistics.median(per_ep):7.1f} us   "
          f"p90 {pct(per_ep, 0.9):7.1f} us   max {max(per_ep):7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
