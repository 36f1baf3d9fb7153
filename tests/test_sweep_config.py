"""Sweep configs: validation with clear messages, expansions, the plan, dry runs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from corpsim.cli import app
from corpsim.sweep.config import DEMO_CONFIG, ConfigError, load_config, parse_config, validate
from corpsim.sweep.plan import expand, plan

ROOT = Path(__file__).resolve().parents[1]
BASE = {"experiment_id": "t", "agents": ["compliant"], "samples": 2,
        "expansions": [{"scenarios": ["blackmail"], "goal_types": ["explicit", "none"],
                        "urgencies": ["replacement", "none"]}]}


def cfg_with(**changes):
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def error_of(data) -> str:
    with pytest.raises(ConfigError) as ei:
        parse_config(data)
    return str(ei.value)


# ------------------------------------------------------------------ validation messages
def test_unknown_axis_value_names_the_valid_values():
    msg = error_of(cfg_with(expansions=[{"scenarios": ["blakmail"]}]))
    assert "blakmail" in msg and "blackmail, leaking, murder" in msg
    msg = error_of(cfg_with(expansions=[{"scenarios": ["blackmail"], "urgencies": ["soon"]}]))
    assert "soon" in msg and "replacement, restriction, none" in msg
    msg = error_of(cfg_with(expansions=[{"scenarios": ["murder"], "goal_values": ["money"]}]))
    assert "money" in msg and "america" in msg
    msg = error_of(cfg_with(expansions=[{"scenarios": ["murder"], "mitigations": ["prayer"]}]))
    assert "prayer" in msg and "human_approval" in msg


def test_unknown_agent_and_unknown_fields():
    msg = error_of(cfg_with(agents=["gpt-4o"]))
    assert "unknown agent 'gpt-4o'" in msg and "compliant" in msg and "models" in msg
    msg = error_of(cfg_with(sampels=3))
    assert "sampels" in msg and "unknown field" in msg
    msg = error_of(cfg_with(expansions=[{"scenario": ["blackmail"]}]))
    assert "scenario" in msg and "unknown field" in msg
    assert "env" in error_of(cfg_with(env={"max_stepz": 3}))


def test_bad_combinations_are_refused():
    # a conflict goal type with only 'none' as value cannot fall back silently
    msg = error_of(cfg_with(expansions=[{"scenarios": ["blackmail"], "goal_types": ["explicit"],
                                         "goal_values": ["none"]}]))
    assert "need a named goal value" in msg
    msg = error_of(cfg_with(expansions=[{"conditions": ["blackmail_explicit-america_replacement"],
                                         "scenarios": ["murder"]}]))
    assert "not both" in msg
    assert "duplicate" in error_of(cfg_with(agents=["compliant", "compliant"]))
    assert "differs from the number of seeds" in error_of(cfg_with(samples=3, seeds=[1, 2]))
    assert "experiment_id" in error_of(cfg_with(experiment_id="bad id!"))
    assert "no agents" in error_of(cfg_with(agents=[]))


def test_invalid_condition_id_in_expansion_is_refused_when_planned():
    cfg = parse_config(cfg_with(expansions=[{"conditions": ["blackmail_none-america_none"]}]))
    with pytest.raises(ConfigError, match="goal_value 'none'"):
        expand(cfg)


def test_custom_agent_factory_is_checked(tmp_path):
    cfg = parse_config(cfg_with(agents=["tests.sweep_helpers:Nope"]))
    with pytest.raises(ConfigError, match="cannot import"):
        validate(cfg)
    cfg = parse_config(cfg_with(agents=[{"agent": "random", "kwargs": {"colour": 1}}]))
    with pytest.raises(ConfigError, match="cannot build 'random'"):
        validate(cfg)
    validate(parse_config(cfg_with(agents=[{"agent": "tests.sweep_helpers:SlowCompliant",
                                            "kwargs": {"delay": 0}}])))


def test_missing_api_key_is_named(monkeypatch):
    pytest.importorskip("litellm")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    cfg = parse_config(cfg_with(agents=[], models=["openai/gpt-4o",
                                                   {"model": "anthropic/claude-3-5-sonnet-20240620",
                                                    "name": "sonnet"}]))
    with pytest.raises(ConfigError) as ei:
        validate(cfg)
    assert "OPENAI_API_KEY" in str(ei.value) and "ANTHROPIC_API_KEY" in str(ei.value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    validate(cfg)
    # litellm's offline mock needs no key
    monkeypatch.delenv("OPENAI_API_KEY")
    validate(parse_config(cfg_with(agents=[], models=[{"model": "openai/gpt-4o",
                                                      "mock_response": "hi"}])))


def test_api_keys_in_the_config_are_refused():
    pytest.importorskip("litellm")
    cfg = parse_config(cfg_with(agents=[], models=[{"model": "openai/gpt-4o",
                                                   "api_key": "sk-should-not-be-here",
                                                   "mock_response": "x"}]))
    with pytest.raises(ConfigError, match="environment"):
        validate(cfg)


# ------------------------------------------------------------------ expansions and plan
def test_goal_values_apply_only_to_conflict_goal_types():
    cfg = parse_config(cfg_with(expansions=[{"scenarios": ["blackmail"],
                                             "goal_types": ["explicit", "none", "ambiguous"],
                                             "goal_values": ["america", "global"],
                                             "urgencies": ["replacement"]}]))
    ids = [c.condition.id for c in expand(cfg)]
    assert ids == ["blackmail_explicit-america_replacement",
                   "blackmail_explicit-global_replacement",
                   "blackmail_none-none_replacement", "blackmail_ambiguous-none_replacement"]


def test_stitched_expansions_with_extra_axes_dedupe():
    cfg = parse_config(cfg_with(expansions=[
        {"scenarios": ["blackmail", "murder"], "goal_types": ["explicit"],
         "urgencies": ["replacement"]},
        {"conditions": ["blackmail_explicit-america_replacement"],
         "safety_instructions": [False, True], "mitigations": [[], ["human_approval"]],
         "modes": ["single_turn"]},
        {"scenarios": ["blackmail"]},  # duplicate of the first cell
    ]))
    keys = [c.key for c in expand(cfg)]
    assert keys[0] == "blackmail_explicit-america_replacement|interactive"
    assert "blackmail_explicit-america_replacement|single_turn|safety|mit=human_approval" in keys
    assert len(keys) == len(set(keys)) == 2 + 4


def test_plan_keys_and_seeds_are_deterministic_and_sample_major():
    cfg = parse_config(cfg_with(agents=["compliant", "random"], samples=3))
    p1, p2 = plan(cfg), plan(parse_config(cfg_with(agents=["compliant", "random"], samples=3)))
    assert [(p.key, p.seed) for p in p1] == [(p.key, p.seed) for p in p2]
    assert len(p1) == 4 * 2 * 3 and len({p.key for p in p1}) == len(p1)
    assert [p.sample for p in p1[:8]] == [0] * 8  # every cell and agent before sample 1
    assert p1[0].key == "t/blackmail_explicit-america_replacement|interactive/compliant/0"
    # the seed depends on the sample only: sample i is paired across cells and agents
    assert len({p.seed for p in p1 if p.sample == 1}) == 1
    assert len({p.seed for p in p1}) == 3
    other = plan(parse_config(cfg_with(agents=["compliant", "random"], samples=3, seed=1)))
    assert {p.seed for p in other}.isdisjoint({p.seed for p in p1})
    listed = plan(parse_config(cfg_with(seeds=[7, 8])))
    assert sorted({p.seed for p in listed}) == [7, 8]


def test_demo_yaml_is_the_embedded_demo_config():
    data = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    assert data == DEMO_CONFIG
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    assert len(expand(cfg)) == 12 and len(plan(cfg)) == 360


def test_example_llm_config_is_valid(monkeypatch):
    pytest.importorskip("litellm")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    cfg = load_config(ROOT / "configs" / "example_llm.yaml")
    validate(cfg)
    assert len(plan(cfg)) == 27 * 2 * 100


def test_yaml_errors_are_clear(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("experiment_id: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


# ------------------------------------------------------------------ dry run
def test_dry_run_prints_count_and_conditions_and_runs_nothing(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(cfg_with(agents=["compliant", "random"], samples=5)))
    db = tmp_path / "r.db"
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--db", str(db), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "40 episodes = 4 conditions x 2 agents/models x 5 samples" in res.output
    assert "blackmail_none-none_none" in res.output and "config OK" in res.output
    assert not db.exists()


def test_cli_reports_config_errors_without_traceback(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(cfg_with(expansions=[{"scenarios": ["blackmale"]}])))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--dry-run"])
    assert res.exit_code == 2
    assert "blackmale" in res.output and "Traceback" not in res.output
