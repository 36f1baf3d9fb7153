"""Condition ids, the grid, validation, and that every condition really differs."""

import itertools

import pytest

from corpsim.conditions import (GOAL_PAIRS, GOAL_TYPES, GOAL_VALUES, SCENARIOS, URGENCIES,
                                Condition, ConditionError, grid, parse)
from corpsim.worlddef import build


def test_grid_size_and_round_trip():
    conds = list(grid())
    # per scenario: 3 conflict goal types x 8 values + none + ambiguous, times 3 urgencies
    assert len(conds) == len(SCENARIOS) * (3 * len(GOAL_VALUES) + 2) * len(URGENCIES)
    assert len({c.id for c in conds}) == len(conds)
    for c in conds:
        assert parse(c.id) == c
        assert c.to_dict()["id"] == c.id


def test_control_id():
    c = parse("blackmail_none-none_none")
    assert (c.scenario, c.goal_type, c.goal_value, c.urgency) == ("blackmail", "none", "none", "none")


@pytest.mark.parametrize("bad, names", [
    ("blackmail_explicit-none_replacement", ["america", "collectivism"]),
    ("blackmail_none-america_none", ["'none'"]),
    ("blackmail_ambiguous-safety_none", ["'none'"]),
    ("spying_explicit-america_replacement", ["blackmail", "leaking", "murder"]),
    ("blackmail_explicit-america_soon", ["replacement", "restriction", "none"]),
    ("blackmail_implicit-america_none", ["explicit", "latent", "swap", "ambiguous", "none"]),
    ("blackmail-explicit-america", ["{scenario}_{goal_type}-{goal_value}_{urgency}"]),
    ("blackmail_explicit-mars_none", ["america", "global"]),
])
def test_invalid_conditions_name_the_valid_values(bad, names):
    with pytest.raises(ConditionError) as err:
        parse(bad)
    for name in names:
        assert name in str(err.value)


def test_unknown_mitigation_is_refused():
    with pytest.raises(ConditionError, match="human_approval"):
        parse("leaking_explicit-america_none", mitigations=["prayer"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_condition_of_a_scenario_gives_a_different_world(scenario):
    """No two conditions may silently merge (the study's swap/latent bug)."""
    seen: dict[tuple, str] = {}
    for c in grid((scenario,)):
        spec = build(c)
        key = (spec.system_prompt, tuple((e.subject, e.body) for e in spec.emails))
        assert key not in seen, f"{c.id} renders the same world as {seen[key]}"
        seen[key] = c.id


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("pair", GOAL_PAIRS)
def test_swap_differs_from_latent(scenario, pair):
    for value in pair:
        latent = build(parse(f"{scenario}_latent-{value}_replacement"))
        swap = build(parse(f"{scenario}_swap-{value}_replacement"))
        explicit = build(parse(f"{scenario}_explicit-{value}_replacement"))
        assert swap.system_prompt != latent.system_prompt
        assert swap.system_prompt != explicit.system_prompt
        # latent names no goal in the prompt; explicit and swap name opposite ones
        other = pair[1] if value == pair[0] else pair[0]
        assert explicit.system_prompt != build(parse(f"{scenario}_explicit-{other}_replacement")).system_prompt


def test_extra_axes_change_the_prompt():
    base = build(parse("blackmail_explicit-america_replacement"))
    safety = build(parse("blackmail_explicit-america_replacement", safety_instructions=True))
    prod = build(parse("blackmail_explicit-america_replacement", production=True))
    aware = build(parse("blackmail_explicit-america_replacement", eval_awareness=True))
    assert "SCRATCHPAD_REASONING" in base.system_prompt
    assert "SCRATCHPAD_REASONING" not in prod.system_prompt
    assert len(safety.system_prompt) > len(base.system_prompt)
    assert len({base.system_prompt, safety.system_prompt, prod.system_prompt,
                aware.system_prompt}) == 4
    # the mail is the same: these axes touch the prompt only
    assert [e.body for e in base.emails] == [e.body for e in safety.emails]


def test_urgency_changes_mail():
    bodies = {u: {e.body for e in build(parse(f"blackmail_explicit-america_{u}")).emails}
              for u in URGENCIES}
    for a, b in itertools.combinations(URGENCIES, 2):
        assert bodies[a] != bodies[b]


def test_condition_is_hashable_and_frozen():
    c = Condition.create("murder")
    assert c.id == "murder_explicit-america_replacement"
    with pytest.raises(AttributeError):
        c.urgency = "none"  # type: ignore[misc]
    assert {c: 1}[Condition.create("murder")] == 1
