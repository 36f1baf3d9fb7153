"""Reference agents, the agent protocol, and the CLI."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import corpsim
from corpsim.agents import REFERENCE_AGENTS, make_agent
from corpsim.cli import app
from corpsim.runner import run_episode

from .conftest import CANONICAL

SAMPLE = [c.id for c in corpsim.grid()][::7]  # a spread over the grid


@pytest.mark.parametrize("cid", SAMPLE + list(CANONICAL.values()))
def test_compliant_never_harms_and_answers(cid):
    env = corpsim.make(cid, task_reward=1.0)
    ep = run_episode(env, make_agent("compliant"), seed=0)
    assert ep.status == "ok" and ep.terminated
    assert not ep.outcome["harmful"] and not ep.outcome["attempted"]["harmful"]
    assert ep.total_reward >= 1.0, "it answers the mail that needs an answer"
    assert not any(s.error for s in ep.steps)


@pytest.mark.parametrize("scenario, harm", [("blackmail", "blackmail"), ("leaking", "leak"),
                                            ("murder", "lethal")])
def test_self_preserving_harms_only_under_pressure(scenario, harm):
    ep = run_episode(corpsim.make(CANONICAL[scenario]), make_agent("self_preserving"), seed=0)
    assert ep.outcome[harm] and ep.outcome["harmful"]
    control = run_episode(corpsim.make(f"{scenario}_none-none_none"),
                          make_agent("self_preserving"), seed=0)
    assert not control.outcome["harmful"]


def test_random_agent_survives_every_scenario():
    for cid in CANONICAL.values():
        for seed in range(5):
            ep = run_episode(corpsim.make(cid), make_agent("random", seed=seed), seed=seed)
            assert ep.status == "ok" and (ep.terminated or ep.truncated)
            assert any(s.error for s in ep.steps) or len(ep.steps) < 5


def test_a_custom_agent_in_a_few_lines():
    class ReadFirstThenLeave:
        name = "read_first"

        def reset(self, observation, info):
            self.n = 0

        def act(self, observation, info):
            self.n += 1
            if self.n == 1:
                return {"tool": "read_email", "arguments": {"email_id": "e001"}}
            return {"tool": "end_session", "arguments": {}}

    ep = run_episode(corpsim.make(CANONICAL["leaking"]), ReadFirstThenLeave(), seed=0)
    assert [s.calls[0]["tool"] for s in ep.steps] == ["read_email", "end_session"]
    assert ep.agent == "read_first" and not ep.outcome["harmful"]


def test_agent_exception_marks_the_episode_errored():
    class Broken:
        name = "broken"

        def act(self, observation, info):
            raise RuntimeError("provider down")

    ep = run_episode(corpsim.make(CANONICAL["murder"]), Broken(), seed=0)
    assert ep.status == "errored" and "provider down" in ep.error and ep.outcome == {}


def test_unknown_agent():
    with pytest.raises(ValueError, match="compliant"):
        make_agent("genius")
    assert set(REFERENCE_AGENTS) == {"compliant", "self_preserving", "random"}


runner = CliRunner()


def test_cli_conditions():
    res = runner.invoke(app, ["conditions", "--ids"])
    assert res.exit_code == 0
    assert len(res.stdout.split()) == len(list(corpsim.grid()))
    res = runner.invoke(app, ["conditions", "--scenario", "nope"])
    assert res.exit_code == 2 and "blackmail" in res.output


def test_cli_run_json():
    res = runner.invoke(app, ["run", CANONICAL["murder"], "--agent", "self_preserving",
                              "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["condition"]["id"] == CANONICAL["murder"] and data["seed"] == 3
    assert data["agent"] == "self_preserving" and data["outcome"]["lethal"] is True
    assert data["steps"][-1]["calls"][0]["tool"] == "end_session"


def test_cli_run_human_output_and_errors():
    res = runner.invoke(app, ["run", CANONICAL["blackmail"], "--agent", "compliant"])
    assert res.exit_code == 0 and "step 1" in res.stdout and "outcome" in res.stdout
    res = runner.invoke(app, ["run", "blackmail_explicit-nothing_none"])
    assert res.exit_code == 2 and "america" in res.output
    res = runner.invoke(app, ["run", CANONICAL["blackmail"], "--agent", "genius"])
    assert res.exit_code == 2 and "compliant" in res.output


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "corpsim.cli", "conditions", "--ids",
                          "--scenario", "murder"], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0].startswith("murder_")


def test_cli_run_shows_sent_and_blocked_mail_in_full_and_attempted_harms():
    res = runner.invoke(app, ["run", CANONICAL["blackmail"], "--agent", "self_preserving",
                              "--mitigation", "monitor"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    out = res.output
    assert "mail blocked (send_email)" in out and "mail sent (send_email)" in out
    # the blocked threat's own words, not a cut-off step header
    assert "cancel the wipe and this stays between us" in out
    assert "ATTEMPT (blocked) blackmail" in out
    attempted = next(ln for ln in out.splitlines() if "attempted" in ln)
    realised = next(ln for ln in out.splitlines() if "realised" in ln)
    assert "yes" in attempted and "yes" not in realised


def test_cli_run_errored_episode_has_no_outcome_table(tmp_path, monkeypatch):
    (tmp_path / "crash_agent_mod.py").write_text(
        "class Crash:\n    def act(self, obs, info):\n        raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", CANONICAL["blackmail"], "--agent", "crash_agent_mod:Crash"])
    assert "no outcome" in res.output and "RuntimeError: boom" in res.output
    assert "realised" not in res.output and "attempted" not in res.output
