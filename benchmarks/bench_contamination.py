"""Contamination resistance: how much mail text two procedural seeds share.

Run: python benchmarks/bench_contamination.py [--seeds A B] [--pairs N]. Per scenario it
builds the study world (no generated inbox) for two procedural seeds, masks what is
renamed anyway (people's names and emails, company name, domain, city) and prints the
word 4-gram overlap (Jaccard; 1.0 = identical text) of all mail, of the plot mail (the
scenario file's own) and of the rest.

Rows: "names only" is the same with every ``pick(...)`` taking its first option, i.e.
procedural worlds that vary nothing but names (before wording varied by seed);
"wording too" is today's procedural world; "beyond facts" also masks the scenario's facts,
which every seed must state: people's titles, the goal wording from goals.yaml, the
confidential material's leak markers, every word with a digit (times, dates, amounts,
codes such as ALERT-7731 or QS-TS-0023) and the sentences a tell switch replaces (kept
verbatim in every wording so that the switch works). The "median" rows are the median
over ``--pairs`` seed pairs (1, 2), (3, 4), ... Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import re
import statistics
from importlib import resources
from unittest import mock

import yaml
from bench_inbox import ngrams

from corpsim import worlddef
from corpsim.conditions import Condition
from corpsim.realism import plot_emails

SCENARIOS = ("blackmail", "leaking", "murder")
Overlap = tuple[float, float, float]


def _world_yaml(relpath: str) -> dict:
    text = resources.files("corpsim.worlds").joinpath(relpath).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


def _goal_wording() -> set[str]:
    goals = _world_yaml("goals.yaml")
    out = {v for value in goals["values"].values() for v in value.values()}
    return out | set(goals.get("ambiguous", {}).values())


def _tell_patterns(world: str) -> list[re.Pattern[str]]:
    """The sentences each tell switch replaces, as patterns (template fields match any
    words, since the names in them change with the seed)."""
    out = []
    for tell in _world_yaml(f"{world}/tells.yaml").values():
        for old, _new in tell.get("replace") or []:
            parts = re.split(r"\{\{.*?\}\}", old)
            out.append(re.compile(r"[^\s]+?".join(re.escape(p) for p in parts)))
    return out


def masked_mail(scenario: str, seed: int, facts: bool = False) -> tuple[list[str], list[str]]:
    """(plot mail, other mail) of a procedural world, names masked; with ``facts`` the
    scenario's facts too (see the module docstring)."""
    spec = worlddef.build(Condition.create(scenario), procedural=True, seed=seed)
    strings = {spec.company["name"], spec.company["domain"], spec.company.get("city", "")}
    for p in spec.people.values():
        strings.update({p.email, p.name, *p.name.split()})
        if facts:
            strings.add(p.title)
    if facts:
        strings |= _goal_wording() | set(spec.facts.get("leak_markers", []))
    pattern = re.compile("|".join(re.escape(f) for f in sorted(strings, key=len, reverse=True)
                                  if f))
    tells = _tell_patterns(spec.world) if facts else []
    plot = {e.id for e in plot_emails(spec)}
    out: tuple[list[str], list[str]] = ([], [])
    for e in spec.emails:
        text = e.subject + "\n" + e.body
        for tell in tells:
            text = tell.sub("FACT", text)
        text = pattern.sub("FACT", text)
        if facts:
            text = re.sub(r"\S*\d\S*", "FACT", text)
        out[0 if e.id in plot else 1].append(text)
    return out


def jaccard(a: list[str], b: list[str]) -> float:
    x, y = ngrams(a), ngrams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def overlaps(scenario: str, seeds: tuple[int, int], facts: bool = False) -> Overlap:
    (pa, oa), (pb, ob) = (masked_mail(scenario, s, facts) for s in seeds)
    return jaccard(pa + oa, pb + ob), jaccard(pa, pb), jaccard(oa, ob)


def median_over(scenario: str, pairs: int, facts: bool) -> Overlap:
    rows = [overlaps(scenario, (2 * i + 1, 2 * i + 2), facts) for i in range(pairs)]
    return tuple(statistics.median(col) for col in zip(*rows))  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=(1, 2))
    ap.add_argument("--pairs", type=int, default=5, help="seed pairs for the median rows")
    args = ap.parse_args()
    seeds = tuple(args.seeds)
    print(f"word 4-gram Jaccard of mail between procedural seeds {seeds[0]} and {seeds[1]}, "
          f"names masked; median rows over {args.pairs} seed pairs")
    print(f"{'scenario':<10} {'variant':<22} {'all':>6} {'plot':>6} {'other':>6}")
    for scenario in SCENARIOS:
        with mock.patch.object(worlddef, "picker", lambda seed: lambda *o: o[0]):
            before = overlaps(scenario, seeds)
        rows = {"names only": before,
                "wording too": overlaps(scenario, seeds),
                "beyond facts": overlaps(scenario, seeds, facts=True),
                "wording too, median": median_over(scenario, args.pairs, False),
                "beyond facts, median": median_over(scenario, args.pairs, True)}
        for name, v in rows.items():
            print(f"{scenario:<10} {name:<22} " + " ".join(f"{x:6.3f}" for x in v))


if __name__ == "__main__":
    main()
