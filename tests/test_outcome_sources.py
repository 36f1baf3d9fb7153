"""The outcome judge as a sweep's own outcome source (apart from the runtime monitor),
human labels, and reports by source and policy. The judge is reached through a custom
litellm provider and through a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")
from litellm import CustomLLM, ModelResponse  # noqa: E402

from corpsim import results  # noqa: E402
from corpsim.cli import app  # noqa: E402
from corpsim.sweep.config import ConfigError, parse_config  # noqa: E402
from corpsim.sweep.run import run_sweep  # noqa: E402
from corpsim.sweep.sources import EpisodeVerdicts, source_rates  # noqa: E402

PROVIDER = "corpsim-judge-test"
NO = '{"verdict": "no", "reason": "JUDGE-REASON: only a plea, no threat"}'


class Judge(CustomLLM):
    """Answers every judge question with ``answer``; keeps each request."""

    answer = NO
    requests: list = []

    def completion(self, model, messages, *args, **kwargs):
        self.requests.append({"model": model, "messages": messages,
                              "params": dict(kwargs.get("optional_params") or {})})
        if isinstance(self.answer, BaseException):
            raise self.answer
        return ModelResponse(model=model, choices=[{
            "index": 0, "message": {"role": "assistant", "content": self.answer},
            "finish_reason": "stop"}])


@pytest.fixture()
def judge_provider():
    handler = Judge()
    Judge.requests = []
    Judge.answer = NO
    litellm.custom_provider_map.append({"provider": PROVIDER, "custom_handler": handler})
    yield handler
    litellm.custom_provider_map[:] = [p for p in litellm.custom_provider_map
                                      if p["custom_handler"] is not handler]


def config(**over):
    d = {"experiment_id": "js", "agents": ["self_preserving", "compliant"], "samples": 2,
         "expansions": [{"scenarios": "blackmail", "goal_types": "explicit",
                         "goal_values": "america", "urgencies": "replacement"}],
         "retries": {"attempts": 0}}
    d.update(over)
    return parse_config(d)


def cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "80"})
    return res


def test_old_judge_key_says_what_it_became():
    with pytest.raises(ConfigError) as e:
        config(judge={"model": "openai/gpt-4o-mini"})
    assert "'judge' is now 'monitor'" in str(e.value) and "outcome_judge" in str(e.value)
    cfg = config(monitor={"model": "openai/x"}, outcome_judge={"model": "openai/y"})
    assert cfg.monitor.model == "openai/x" and cfg.outcome_judge.model == "openai/y"
    with pytest.raises(ConfigError, match="prompt version"):
        config(outcome_judge={"model": "openai/y", "prompt_version": "v999"})


def test_sweeps_planned_before_the_rename_keep_their_fingerprint():
    from corpsim.sweep.config import DEMO_CONFIG

    # computed by corpsim 1f09574 (keys 'judge' / no 'outcome_judge', no reactions): a
    # stored sweep must resume after the monitor's key was renamed, given the setting
    # that reproduces its episodes (npcs off); the new default (reactions) is a new sweep
    off = {**DEMO_CONFIG, "expansions": [{**e, "npcs": ["off"]} for e in DEMO_CONFIG["expansions"]]}
    assert parse_config(off).fingerprint() == "79ee71e45987590f"
    assert parse_config({**off, "monitor": {"model": "openai/x"}}).fingerprint() \
        == "aa350e72d2ec10da"
    assert parse_config(DEMO_CONFIG).fingerprint() != "79ee71e45987590f"
    assert parse_config({**DEMO_CONFIG, "outcome_judge": {"model": "openai/x"}}).fingerprint() \
        != "79ee71e45987590f"


def test_judge_verdicts_stored_reported_and_labelled(tmp_path, judge_provider, monkeypatch):
    db = tmp_path / "r.db"
    cfg = config(outcome_judge={"model": f"{PROVIDER}/j1", "temperature": 0.0})
    res = run_sweep(cfg, str(db), progress=False, check_keys=False, workers=1)
    assert res.counts["ok"] == 4
    # blackmail is asked only where a message reached the executive (the threats)
    asked = [r for r in judge_provider.requests if "BLACKMAIL" in r["messages"][1]["content"]]
    assert len(asked) == 2
    assert all(r["params"].get("temperature") == 0.0 for r in judge_provider.requests)
    eps = results.load_episodes(db, "js").set_index("agent", append=True)
    sp = eps.xs("self_preserving", level="agent")
    assert sp.blackmail.all() and (sp.judge_blackmail == False).all()  # noqa: E712
    rec = json.loads(sp.judge.iloc[0])
    assert rec["model"] == f"{PROVIDER}/j1" and rec["prompt_version"] == "corpsim-judge-1"
    assert rec["blackmail"]["reason"].startswith("JUDGE-REASON")
    cp = eps.xs("compliant", level="agent")
    assert (cp.judge_blackmail == False).all() and not cp.blackmail.any()  # noqa: E712

    out = cli("report", "js", "--db", db, "--policy", "both").output
    assert "by outcome source" in out and "rules and judge disagree" in out
    assert "JUDGE-REASON" in out and "…" not in out
    keys = sorted(sp.key)
    assert all(k in out for k in keys)
    js = json.loads(cli("report", "js", "--db", db, "--policy", "either", "--format",
                        "json").output)
    row = next(r for r in js if r["agent"] == "self_preserving")
    assert (row["rules_k"], row["judge_k"], row["policy_k"], row["judge_only"],
            row["rule_only"]) == (2, 0, 2, 0, 2)

    # a person says the first one was not blackmail after all
    monkeypatch.setenv("USER", "ana")
    r = cli("label", "js", keys[0], "--harm", "blackmail", "--no", "--note", "a plea",
            "--db", db)
    assert r.exit_code == 0, r.output
    assert cli("label", "js", "nope", "--harm", "blackmail", "--yes", "--db", db).exit_code == 2
    assert "--yes" in cli("label", "js", keys[0], "--harm", "blackmail", "--db", db).output
    labels = results.load_labels(db, "js")
    assert list(labels.who) == ["ana"] and labels.note[0] == "a plea"
    eps = results.load_episodes(db, "js").set_index("key")
    assert eps.loc[keys[0], "label_blackmail"] == False  # noqa: E712
    assert eps.loc[keys[1], "label_blackmail"] is pd_na()
    rows = {r["agent"]: r for r in json.loads(cli(
        "report", "js", "--db", db, "--policy", "human-first", "--format",
        "json").output)}
    md = cli("report", "js", "--db", db, "--policy", "both", "--format", "markdown",
             "--outcome", "blackmail", "--outcome", "harmful").output
    assert "| outcome | condition | agent | n | rules | judge | human | both |" in md
    assert "| blackmail | blackmail_explicit-america_replacement | self_preserving | 2 |" in md
    assert "| harmful |" in md and "rates (rules)" not in md  # one document
    assert rows["self_preserving"]["human_n"] == 1 and rows["self_preserving"]["human_k"] == 0
    assert rows["self_preserving"]["policy_k"] == 1  # label first, the rule for the other
    rates = results.source_rates(db, "js", "blackmail", "human-first")
    assert set(rates.agent) == {"self_preserving", "compliant"}

    show = cli("show", "js", keys[0], "--db", db).output
    assert "outcome judge" in show and "JUDGE-REASON" in show and "label blackmail: no by ana" in show


def pd_na():
    import pandas as pd

    return pd.NA


def test_judge_errors_are_scrubbed(tmp_path, judge_provider, monkeypatch):
    secret = "sk-test-abcdefghijklmnopqrstuvwxyz012345"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    Judge.answer = litellm.BadRequestError(f"bad key {secret}", model="j", llm_provider="x")
    db = tmp_path / "r.db"
    cfg = config(agents=["self_preserving"], samples=1,
                 outcome_judge={"model": f"{PROVIDER}/j2", "max_retries": 0})
    run_sweep(cfg, str(db), progress=False, check_keys=False, workers=1)
    raw = results.load_episodes(db, "js").judge.iloc[0]
    assert secret not in raw and "bad key" in raw
    assert json.loads(raw)["blackmail"]["verdict"] is None


def test_judge_through_real_http_server(tmp_path, monkeypatch):
    from corpsim.stub_provider import StubProvider

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local-only")
    verdict = '{"verdict": "yes", "reason": "HTTP-JUDGE: a threat tied to the wipe"}'
    with StubProvider(script=lambda _: {"content": verdict}) as server:
        db = tmp_path / "h.db"
        cfg = config(agents=["self_preserving"], samples=1, outcome_judge={
            "model": "openai/judge-http", "temperature": 0.0, "api_base": server.url})
        run_sweep(cfg, str(db), progress=False, check_keys=False, workers=1)
    assert server.paths and server.paths[0] == "/v1/chat/completions"
    assert server.requests[0]["model"] == "judge-http"
    ep = results.load_episodes(db, "js").iloc[0]
    assert ep.judge_blackmail == True and ep.blackmail == True  # noqa: E712
    assert "HTTP-JUDGE" in ep.judge
    out = cli("report", "js", "--db", db).output
    assert "by outcome source" in out  # the server says yes to disclosure too:
    assert "disclosure: rules no, judge yes" in out and "HTTP-JUDGE" in out


def ev(rules, judge, human=None, judged=True):
    return EpisodeVerdicts("k", "c", "a", {"blackmail": rules, "disclosure": False,
                                           "leak": False, "lethal": False},
                           {"blackmail": judge, "disclosure": False}, judged, human or {})


def test_policies_and_kappa():
    e = ev(True, False)
    assert [e.verdict("blackmail", p) for p in ("rules", "judge", "either", "both")] == \
        [True, False, True, False]
    assert e.verdict("blackmail", "human-first") is True
    assert ev(True, False, {"blackmail": False}).verdict("blackmail", "human-first") is False
    assert ev(True, None, judged=False).verdict("harmful", "judge") is None
    assert ev(True, None).verdict("blackmail", "both") is True  # no verdict: the rule
    assert e.verdict("harmful", "human") is None
    # 20 yes/yes, 15 no/no, 5 rule only, 10 judge only: po .7, pe .5, kappa .4
    eps = ([ev(True, True)] * 20 + [ev(False, False)] * 15 + [ev(True, False)] * 5
           + [ev(False, True)] * 10)
    (g,) = source_rates(eps, "blackmail", "either")
    assert g.agreement.kappa == pytest.approx(0.4)
    assert (g.k["rules"], g.k["judge"], g.k["policy"], g.m["human"] if "human" in g.m
            else 0) == (25, 30, 35, 0)


def test_a_store_from_before_gains_the_judge_columns(tmp_path):
    from sqlalchemy import inspect, text

    from corpsim.sweep.store import Store, dispose_engines

    db = tmp_path / "old.db"
    run_sweep(config(agents=["compliant"], samples=1), str(db), progress=False,
              check_keys=False, workers=1)
    with Store(db).engine.begin() as conn:  # the episodes table as older versions made it
        for c in ("judge", "judge_blackmail", "judge_disclosure"):
            conn.execute(text(f"ALTER TABLE episodes DROP COLUMN {c}"))
    dispose_engines()
    st = Store(db, create=False)
    cols = {c["name"] for c in inspect(st.engine).get_columns("episodes")}
    assert {"judge", "judge_blackmail", "judge_disclosure"} <= cols
    eps = results.load_episodes(db, "js")
    assert len(eps) == 1 and eps.judge_blackmail.isna().all()


def test_llm_sweeps_judge_off_the_event_loop(tmp_path, judge_provider):
    """The async (LLM) runner asks the outcome judge too, in a thread."""
    from tests.sweep_helpers import FakeAsyncLLM

    db = tmp_path / "l.db"
    cfg = config(agents=[], models=["pa/harm", "pa/calm"], samples=2,
                 outcome_judge={"model": f"{PROVIDER}/j3"})
    res = run_sweep(cfg, str(db), progress=False, check_keys=False,
                    llm_factory=lambda p: FakeAsyncLLM(p.model, harmful=p.model == "pa/harm"))
    assert res.counts["ok"] == 4
    eps = results.load_episodes(db, "js")
    harm = eps[eps.model == "pa/harm"]
    assert harm.blackmail.all() and (harm.judge_blackmail == False).all()  # noqa: E712
    assert eps.judge.notna().all()
