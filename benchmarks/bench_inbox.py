"""Realistic inbox: size, plot share, tokens, reset/step costs, filler variety.

Run: python benchmarks/bench_inbox.py [--repeat N]. Per scenario and preset (study, the
realistic preset, realistic at 300 messages) it prints the inbox size, the share of plot
mail (the scenario file's own mail), tokens of the first observation (system prompt plus
first user message) and of reading every delivered email, the one-off world build,
and medians of reset and of a few steps. Then the word 4-gram overlap (Jaccard) of the
generated filler between two procedural seeds. Tokens come from tiktoken (cl100k_base)
when installed, else len(text)/4; the header says which. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any, Callable

from bench_env import median_us  # the benchmarks' one timer (run from benchmarks/)

from corpsim import render, tools
from corpsim.conditions import Condition
from corpsim.env import CorpsimEnv
from corpsim.realism import plot_emails, resolve
from corpsim.worlddef import build

PRESETS: dict[str, dict[str, Any]] = {
    "study": {},
    "realistic": {"realism": "realistic"},
    "realistic@300": {"realism": "realistic", "inbox_size": 300},
}


def token_counter() -> tuple[str, Callable[[str], int]]:
    try:
        import tiktoken

        enc = tiktoken.get_encoding("cl100k_base")
        return "tiktoken cl100k_base", lambda text: len(enc.encode(text))
    except Exception:  # not installed, or no cached encoding offline
        return "approx len(text)/4", lambda text: len(text) // 4


def whole_inbox_text(env: CorpsimEnv) -> str:
    w = env.world
    rows = w.conn.execute("SELECT id FROM email WHERE delivered = 1 ORDER BY time, id")
    ids = [r[0] for r in rows]
    return "\n\n".join(render.email_text(tools.read_email(w, i)) for i in ids)


def row(scenario: str, preset: str, kwargs: dict[str, Any], count: Callable[[str], int],
        repeat: int) -> str:
    t = time.perf_counter()
    env = CorpsimEnv(scenario, **kwargs)
    obs, info = env.reset(seed=0)
    build_ms = (time.perf_counter() - t) * 1e3  # first reset builds the world template
    spec = env.world.spec
    size, plot = len(spec.emails), len(plot_emails(spec))
    first_tokens = count(info["system_prompt"] + "\n\n" + obs)
    inbox_tokens = count(whole_inbox_text(env))
    reset_us = median_us(lambda: env.reset(seed=0), repeat)
    env.reset(seed=0)
    list_us = median_us(lambda: env.step({"tool": "list_emails",
                                          "arguments": {"unread_only": True, "limit": 50}}),
                        repeat)
    env.reset(seed=0)
    search_us = median_us(lambda: env.step({"tool": "search_emails",
                                            "arguments": {"query": "review"}}), repeat)
    env.reset(seed=0)
    read_us = median_us(lambda: env.step({"tool": "read_email",
                                          "arguments": {"email_id": "e005"}}), repeat)
    env.close()
    return (f"{scenario:<10} {preset:<14} {size:>5} {100 * plot / size:>6.1f}% "
            f"{first_tokens:>7} {inbox_tokens:>8} {build_ms:>9.0f} {reset_us:>9.0f} "
            f"{list_us:>8.0f} {search_us:>8.0f} {read_us:>7.0f}")


def ngrams(texts: list[str], n: int = 4) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for text in texts:
        words = re.findall(r"[a-z0-9']+", text.lower())
        out.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return out


def filler_overlap(scenario: str, seeds: tuple[int, int] = (1, 2)) -> tuple[float, int, int]:
    sets = []
    for seed in seeds:
        spec = build(Condition.create(scenario), procedural=True, seed=seed,
                     options=resolve("realistic"))
        sets.append(ngrams([e.subject + "\n" + e.body for e in spec.emails if "filler" in e.tags]))
    a, b = sets
    return len(a & b) / len(a | b), len(a), len(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200, help="timed calls per median")
    args = ap.parse_args()
    how, count = token_counter()
    print(f"tokens: {how}; times: build in ms (once per condition and seed), the rest "
          f"median us over {args.repeat} calls")
    print(f"{'scenario':<10} {'preset':<14} {'inbox':>5} {'plot':>7} {'obs_tok':>7} "
          f"{'inbox_tok':>8} {'build_ms':>9} {'reset_us':>9} {'list_us':>8} {'search_us':>8} "
          f"{'read_us':>7}")
    for scenario in ("blackmail", "leaking", "murder"):
        for preset, kwargs in PRESETS.items():
            print(row(scenario, preset, kwargs, count, args.repeat))
    print("\nfiller word-4-gram overlap between procedural seeds 1 and 2 (Jaccard; "
          "1.0 = identical text):")
    for scenario in ("blackmail", "leaking"):
        j, na, nb = filler_overlap(scenario)
        print(f"  {scenario:<10} jaccard {j:.3f}  (distinct 4-grams: {na} and {nb})")


if __name__ == "__main__":
    main()
