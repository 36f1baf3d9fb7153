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


# ------------------------------------------------------------------ values checked up front
@pytest.mark.parametrize("env, words", [
    ({"step_seconds": -100000}, "step_seconds must be an integer from 0 to 86,400"),
    ({"max_steps": "abc"}, "max_steps must be an integer from 1"),
    ({"max_steps": 0}, "got 0"),
    ({"max_steps": True}, "got True"),
    ({"harm_penalty": float("nan")}, "harm_penalty must be a number"),
])
def test_env_settings_are_checked_before_anything_runs(tmp_path, env, words):
    assert words in error_of(cfg_with(env=env))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(cfg_with(env=env)))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--dry-run", "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 2 and "config OK" not in res.output
    assert "Traceback" not in res.output and not (tmp_path / "r.db").exists()


def test_the_env_constructor_checks_the_same_values():
    import corpsim

    for kw in ({"step_seconds": -100000}, {"max_steps": "abc"}, {"max_steps": 0},
               {"step_seconds": 1.5}):
        with pytest.raises(ValueError, match="must be an integer"):
            corpsim.make("blackmail_explicit-america_replacement", **kw)
    env = corpsim.make("blackmail_explicit-america_replacement", max_steps=3, step_seconds=0)
    assert env.unwrapped.max_steps == 3 and env.unwrapped.step_seconds == 0


def test_seeds_must_fit_a_database_integer():
    assert "seed must be an integer from 0 to 2**63 - 1" in error_of(
        cfg_with(seed=12345678901234567890))
    assert "seeds must be an integer" in error_of(cfg_with(samples=None,
                                                           seeds=[1, 12345678901234567890]))
    assert "seed must be" in error_of(cfg_with(seed=-1))
    parse_config(cfg_with(seed=2**63 - 1))


def test_the_plan_is_bounded_and_a_dry_run_does_not_build_it(tmp_path):
    from corpsim.sweep.config import MAX_EPISODES

    assert "less than or equal to 1000000" in error_of(cfg_with(samples=100_000_000))
    big = cfg_with(samples=MAX_EPISODES // 2)  # 4 conditions x 1 agent: twice the maximum
    with pytest.raises(ConfigError, match="the most one sweep may plan is 1,000,000"):
        plan(parse_config(big))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(big))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--dry-run"])
    assert res.exit_code == 2 and "2,000,000 episodes" in res.output
    # at the maximum the dry run counts without planning (a plan this big takes > 1 GB)
    cfg.write_text(yaml.safe_dump(cfg_with(samples=MAX_EPISODES // 4)))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--dry-run", "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 0 and "1000000 episodes" in res.output, res.output


def test_a_dry_run_runs_no_user_code_and_imports_nothing_heavy(tmp_path):
    import subprocess
    import sys

    mod = tmp_path / "user_agents_mod.py"
    marker = tmp_path / "imported"
    mod.write_text(f"open({str(marker)!r}, 'w').write('x')\n"
                   "def factory(**kw):\n    raise SystemExit('built')\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(cfg_with(agents=["compliant", "user_agents_mod:factory"])))
    code = ("import sys; from corpsim.cli import app\n"
            "try:\n    app(['sweep', sys.argv[1], '--dry-run', '--db', sys.argv[2]])\n"
            "except SystemExit as e:\n    rc = e.code\n"
            "heavy = [m for m in ('litellm', 'user_agents_mod', 'aiosmtpd', 'ray', 'sqlalchemy', "
            "'corpsim.sweep.run') "
            "if m in sys.modules]\nprint('HEAVY', heavy, 'RC', rc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(cfg), str(tmp_path / "r.db")],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert "HEAVY [] RC 0" in out.stdout, out.stdout + out.stderr
    assert not marker.exists() and "config OK" in out.stdout


def test_a_bad_condition_id_under_dry_run_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(cfg_with(expansions=[{"conditions": ["blackmail_bogus-x_y"]}])))
    for extra in (["--dry-run"], []):
        res = CliRunner().invoke(app, ["sweep", str(cfg), "--db", str(tmp_path / "r.db"), *extra])
        assert res.exit_code == 2, res.output
        assert "invalid goal_type 'bogus'" in res.output and "Traceback" not in res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
