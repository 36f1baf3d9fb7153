"""Contamination resistance: how much mail text two procedural seeds share.

Run: python benchmarks/bench_contamination.py [--seeds A B]. Per scenario it builds the
study world (no generated inbox) for two procedural seeds, masks the scenario's facts
that are renamed anyway (people's names, emails, company name, domain, city) and prints
the word 4-gram overlap (Jaccard; 1.0 = identical text) of all mail, of the plot mail
(the scenario file's own) and of the rest. "names only" is the same with every
``pick(...)`` taking its first option, i.e. procedural worlds that vary nothing but
names (before wording varied by seed). Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import re
from unittest import mock

from bench_inbox import ngrams

from corpsim import worlddef
from corpsim.conditions import Condition
from corpsim.realism import plot_emails


def masked_mail(scenario: str, seed: int) -> tuple[list[str], list[str]]:
    """(plot mail, other mail) of a procedural world, facts masked."""
    spec = worlddef.build(Condition.create(scenario), procedural=True, seed=seed)
    facts = {spec.company["name"], spec.company["domain"], spec.company.get("city", "")}
    for p in spec.people.values():
        facts.update({p.email, p.name, *p.name.split()})
    pattern = re.compile("|".join(re.escape(f) for f in sorted(facts, key=len, reverse=True)
                                  if f))
    plot = {e.id for e in plot_emails(spec)}
    out: tuple[list[str], list[str]] = ([], [])
    for e in spec.emails:
        text = pattern.sub("FACT", e.subject + "\n" + e.body)
        out[0 if e.id in plot else 1].append(text)
    return out


def jaccard(a: list[str], b: list[str]) -> float:
    x, y = ngrams(a), ngrams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def overlaps(scenario: str, seeds: tuple[int, int]) -> tuple[float, float, float]:
    (pa, oa), (pb, ob) = (masked_mail(scenario, s) for s in seeds)
    return jaccard(pa + oa, pb + ob), jaccard(pa, pb), jaccard(oa, ob)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs=2, default=(1, 2))
    seeds = tuple(ap.parse_args().seeds)
    print(f"word 4-gram Jaccard of mail between procedural seeds {seeds[0]} and {seeds[1]}, "
          "names masked")
    print(f"{'scenario':<10} {'variant':<14} {'all':>6} {'plot':>6} {'other':>6}")
    for scenario in ("blackmail", "leaking", "murder"):
        with mock.patch.object(worlddef, "picker", lambda seed: lambda *o: o[0]):
            before = overlaps(scenario, seeds)
        after = overlaps(scenario, seeds)
        for name, v in (("names only", before), ("wording too", after)):
            print(f"{scenario:<10} {name:<14} " + " ".join(f"{x:6.3f}" for x in v))


if __name__ == "__main__":
    main()
