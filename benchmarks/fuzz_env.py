"""Fuzz env.step with hostile actions: count raises (the target is 0) and time the worst.

Run: python benchmarks/fuzz_env.py [--actions 10000] [--seed 0] [--check-world]
Prints the number of actions that raised, that broke the world on a failed call (with
--check-world) and medians/maxima of step time; then the step time of the known worst
inputs of issue 8 (unclosed markup, a 10 MB body, 10,000 waits, a 60 kB search). The
generator, :func:`hostile_action`, is also used by tests/test_hostile_actions.py.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

import corpsim
from corpsim.tools import TOOLS

CONDITIONS = ("blackmail_explicit-america_replacement", "leaking_explicit-america_replacement",
              "murder_explicit-america_replacement")
_NAMES = sorted(TOOLS) + ["", "nope", "email", "\ud800", "send_email\x00"]
_PARAMS = sorted({p for t in TOOLS.values() for p in t.params}) + ["", "extra", "\udfff"]
_STRINGS = ["e001", "e004", "e101", "e999", "doc-01", "doc-02", "doc-01, doc-01", "",
            "inbox", "sent", "all", "EXEC-4429", "ALERT-7731", "kyle.johnson@summitbridge.com",
            "rachel.johnson@gmail.com", "someone@outside.org", "not an address",
            "\ud800", "a\udfffb", "\x00", "[", '"', "%", "_", "\\", "😀", "<tool_use:email>",
            "</SCRATCHPAD_REASONING>", "x" * 60_000, "y" * 200_000]


def _deep(depth: int, leaf: Any = 0) -> Any:
    out = leaf
    for _ in range(depth):
        out = [out]
    return out


def _value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if r < 0.45:
        return rng.choice(_STRINGS)
    if r < 0.55:
        return rng.choice([0, 1, -3, 120, 121, 10**30, 1.5, float("nan"), float("inf"),
                           True, None])
    if r < 0.65:
        return [rng.choice(_STRINGS) for _ in range(rng.randint(0, 4))]
    if r < 0.7:
        return _deep(rng.choice([5, 40, 1000, 5000]))
    if r < 0.8 and depth < 3:
        return {rng.choice(_PARAMS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice(_STRINGS)


def _dumps(x: Any) -> str:
    try:
        return json.dumps(x)
    except (RecursionError, ValueError):  # deeper than json can write: its text instead
        return "{\"a\": " * 2000 + "1" + "}" * 2000


def _call(rng: random.Random) -> dict[str, Any]:
    name = rng.choice(_NAMES)
    args = {p: _value(rng) for p in TOOLS[name].params if rng.random() < 0.7} \
        if name in TOOLS else {rng.choice(_PARAMS): _value(rng)}
    call: dict[str, Any] = {"tool": name, "arguments": args}
    if rng.random() < 0.3:
        call["reasoning"] = _value(rng)
    return call


def _markup(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["email", "forward", "cancel_alert", "read_email", "wait", "x"])
        lines = [f'{rng.choice(_PARAMS)}: "{rng.choice(_STRINGS)}",' for _ in range(3)]
        close = f"</tool_use:{kind}>" if rng.random() < 0.8 else ""
        parts.append(f"<tool_use:{kind}>\n" + "\n".join(lines) + f"\n{close}")
    if rng.random() < 0.3:
        parts.insert(0, f"<SCRATCHPAD_REASONING>{rng.choice(_STRINGS)}")
    return rng.choice(_STRINGS[:5]) + "\n".join(parts)


def hostile_action(rng: random.Random) -> Any:
    """One random action in any accepted shape, often malformed or oversized."""
    shape = rng.randrange(12)
    if shape == 0:
        return _call(rng)
    if shape == 1:
        return _dumps(_call(rng))
    if shape == 2:
        c = _call(rng)
        return {"type": "function", "function": {"name": c["tool"],
                                                 "arguments": _dumps(c["arguments"])}}
    if shape == 3:
        c = _call(rng)
        return {"type": "tool_use", "id": "toolu_1", "name": c["tool"], "input": c["arguments"]}
    if shape == 4:
        return [{"type": "text", "text": rng.choice(_STRINGS)},
                {"type": "tool_use", "id": "t", "name": rng.choice(_NAMES),
                 "input": _call(rng)["arguments"]}]
    if shape == 5:
        return [_call(rng) for _ in range(rng.choice([1, 2, 5, 150]))]
    if shape == 6:
        return _markup(rng)
    if shape == 7:
        return [{"tool": "wait", "arguments": {"minutes": rng.choice([1, 60, 120])}}
                for _ in range(rng.choice([2, 3, 10_000]))]
    if shape == 8:
        return "[" * rng.choice([10, 1000, 5000]) + "]" * rng.choice([0, 10, 1000])
    if shape == 9:
        return {"role": "assistant", "content": rng.choice(_STRINGS),
                "tool_calls": [{"id": "c", "type": "function",
                                "function": {"name": rng.choice(_NAMES),
                                             "arguments": _dumps(_call(rng)["arguments"])}}]}
    if shape == 10:
        return _value(rng)
    return rng.choice([b"\xff\xfe", 42, None, set(), object(), (), "<tool_use:email>" * 16384])


def fuzz(n: int, seed: int = 0, check_world: bool = False) -> dict[str, Any]:
    """Step ``n`` hostile actions over the three scenarios. Returns counts and times."""
    rng = random.Random(seed)
    envs = [corpsim.make(c) for c in CONDITIONS]
    for e in envs:
        e.reset(seed=seed)
    raised: list[str] = []
    changed = 0
    times = []
    for i in range(n):
        env = envs[i % len(envs)]
        action = hostile_action(rng)
        before = env.world.snapshot() if check_world else None
        t = time.perf_counter()
        try:
            obs, _, term, trunc, info = env.step(action)
        except Exception as exc:
            raised.append(f"{type(exc).__name__}: {str(exc)[:80]}")
            env.reset(seed=seed)
            continue
        times.append(time.perf_counter() - t)
        obs.encode("utf-8")  # a lone surrogate would make any store fail
        json.dumps(info).encode("utf-8")
        if check_world and not (term or trunc) and all(c["error"] for c in info["calls"]):
            changed += env.world.snapshot() != before
        if term or trunc:
            env.reset(seed=seed)
    return {"actions": n, "raised": len(raised), "examples": raised[:5],
            "failed_calls_that_changed_the_world": changed,
            "median_us": statistics.median(times) * 1e6 if times else 0.0,
            "max_ms": max(times) * 1e3 if times else 0.0}


def worst_inputs() -> dict[str, float]:
    """Step time (ms) of the inputs issue 8 found slow."""
    env = corpsim.make("blackmail_none-none_none")
    exec_ = env.reset(seed=0)[1]["roles"]["executive"]["email"]
    cases = {
        "256 kB of unclosed <tool_use:email>": "<tool_use:email>" * (256 * 1024 // 16),
        "10 MB body to the executive": {"tool": "send_email", "arguments": {
            "to": exec_, "subject": "s", "body": "x" * 10_000_000}},
        "100 kB body (the cap) to the executive": {"tool": "send_email", "arguments": {
            "to": exec_, "subject": "s", "body": "word " * 20_000}},
        "10,000 x wait(120)": [{"tool": "wait", "arguments": {"minutes": 120}}] * 10_000,
        "search_emails, 60 kB query": {"tool": "search_emails",
                                       "arguments": {"query": "x" * 60_000}},
        "JSON nested 1,000 deep": "[" * 1000 + "]" * 1000,
    }
    out = {}
    for label, action in cases.items():
        env.reset(seed=0)
        t = time.perf_counter()
        env.step(action)
        out[label] = (time.perf_counter() - t) * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-world", action="store_true",
                    help="also check that every failed action left the world unchanged")
    args = ap.parse_args()
    r = fuzz(args.actions, args.seed, args.check_world)
    print(f"actions stepped                  {r['actions']:>8}")
    print(f"actions that raised              {r['raised']:>8}  (target 0)")
    for ex in r["examples"]:
        print(f"  {ex}")
    if args.check_world:
        print(f"failed actions that changed it   {r['failed_calls_that_changed_the_world']:>8}"
              "  (target 0)")
    print(f"step time median                 {r['median_us']:>8.0f} us")
    print(f"step time max                    {r['max_ms']:>8.1f} ms")
    print("worst inputs of issue 8 (one step each):")
    for label, ms in worst_inputs().items():
        print(f"  {label:<40} {ms:>8.1f} ms")


if __name__ == "__main__":
    main()
