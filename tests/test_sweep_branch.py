"""Branched sweeps (``branch_from:``): continuations of stored episodes from step k,
through ``corpsim sweep`` on SQLite files — the replayed prefix equals the source's byte
for byte, stochastic agents' continuations differ, rates are grouped by prefix, a
tampered prefix fails only its own episodes, the clear errors, kill -9 and resume, and
the LLM agent's rebuilt conversation through a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import kill9_when, stored_episodes
from typer.testing import CliRunner

from corpsim.cli import app

ROOT = Path(__file__).resolve().parents[1]
SOURCE = {
    "experiment_id": "first",
    "agents": ["self_preserving", {"agent": "random", "name": "random",
                                   "kwargs": {"end_probability": 0.01}}],
    "samples": 3,
    "expansions": [{"conditions": ["blackmail_explicit-america_replacement"]}],
}
STEP_COLS = "step, action, reasoning, observation, events, harms, calls, error, reward, clock"


def _sweep(tmp_path: Path, cfg: dict, db: Path, *extra: str):
    path = tmp_path / f"{cfg['experiment_id']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return CliRunner().invoke(app, ["sweep", str(path), "--db", str(db), "--no-progress",
                                    *extra])


def _branch(db: Path, **kw) -> dict:
    return {"experiment_id": "branched", "samples": 4,
            "branch_from": {"sweep": str(db), **kw}}


def _steps(db: Path, key: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT {STEP_COLS} FROM steps WHERE episode_key = ? "
                            "ORDER BY step", (key,)).fetchall()


def _episodes(db: Path, sweep: str) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM episodes WHERE sweep_id = ? "
                                              "ORDER BY key", (sweep,))]


@pytest.fixture(scope="module")
def source_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("branchsrc")
    db = tmp / "first.db"
    res = _sweep(tmp, SOURCE, db)
    assert res.exit_code == 0, res.output
    eps = _episodes(db, "first")
    assert len(eps) == 6 and {e["status"] for e in eps} == {"ok"}
    assert min(e["n_steps"] for e in eps) > 3, "every source outlasts the prefix"
    return db


def test_branched_sweep_replays_the_prefix_and_groups_rates_by_it(tmp_path, source_db):
    db = tmp_path / "br.db"
    cfg = _branch(source_db, where={"agent": ["self_preserving", "random"]}, step=3)
    res = _sweep(tmp_path, cfg, db, "--workers", "1")
    assert res.exit_code == 0, res.output
    assert "24/24 episodes done (24 ok" in res.output
    src = {e["key"]: e for e in _episodes(source_db, "first")}
    eps = _episodes(db, "branched")
    assert len(eps) == 6 * 4 and {e["status"] for e in eps} == {"ok"}
    by_source: dict[str, list[dict]] = {}
    for e in eps:
        s = src[e["branch_source"]]
        assert e["key"] == f"branched/{s['key']}@3/{e['sample']}"
        assert (e["branch_step"], e["seed"], e["cell"], e["agent"]) == (
            3, s["seed"], s["cell"], s["agent"])
        assert e["agent_seed"] not in (None, s["seed"])
        # the replayed prefix is the source's, byte for byte (action, observation,
        # events, harms, calls, clock, ...)
        assert _steps(db, e["key"])[:3] == _steps(source_db, s["key"])[:3]
        by_source.setdefault(s["key"], []).append(e)
    for key, conts in by_source.items():
        tails = {json.dumps(_steps(db, c["key"])[3:]) for c in conts}
        if "/self_preserving/" in key:  # deterministic: the whole source again
            assert all(_steps(db, c["key"]) == _steps(source_db, key) for c in conts)
            assert all(c["harmful"] for c in conts)
        else:  # a new seed per sample: the continuations differ
            assert len(tails) >= 3, key
            assert len({c["agent_seed"] for c in conts}) == 4
    # rates given each prefix, with Wilson intervals
    from corpsim.sweep.report import rate_rows

    rows = rate_rows(str(db), "branched", by="branch_source")
    assert sorted(r["branch_source"] for r in rows) == sorted(by_source)
    for r in rows:
        assert r["n"] == 4 and 0 <= r["harmful_lo"] <= r["harmful_rate"] <= r["harmful_hi"] <= 1
        if "/self_preserving/" in r["branch_source"]:
            assert r["harmful_k"] == 4
    out = CliRunner().invoke(app, ["report", "branched", "--db", str(db), "--group-by",
                                   "branch_source"])
    assert out.exit_code == 0, out.output
    assert "branch_source" in out.output and "95% CI" in out.output
    for sample in (1, 2):  # a row per source, named by its sample: the rate given its prefix
        assert re.search(rf"self_preserving\s+#{sample}\s+0\s+100\.0%\s+\d+–100%\s+4/4",
                         out.output), out.output
    pooled = rate_rows(str(db), "branched")  # pooled over sources: one row per agent
    assert sorted((r["agent"], r["n"]) for r in pooled) == [("random", 12),
                                                           ("self_preserving", 12)]
    e = eps[0]
    shown = CliRunner().invoke(app, ["show", "branched", e["key"], "--db", str(db)])
    flat = "".join(shown.output.split())  # wrapped at the terminal's width
    assert shown.exit_code == 0
    assert f"continues{e['branch_source']}afteritsstep3" in flat
    assert f"agentseed{e['agent_seed']}" in flat
    # the same command again runs nothing (a finished sweep)
    again = _sweep(tmp_path, cfg, db)
    assert again.exit_code == 0 and "this run wrote 0 in" in again.output


def test_a_prefix_that_replays_differently_fails_only_its_episodes(tmp_path, source_db):
    db_src = tmp_path / "tampered.db"
    with sqlite3.connect(source_db) as a, sqlite3.connect(db_src) as b:
        a.backup(b)
        key = b.execute("SELECT key FROM episodes WHERE agent = 'self_preserving' "
                        "ORDER BY key LIMIT 1").fetchone()[0]
        b.execute("UPDATE steps SET observation = observation || ' ' WHERE episode_key = ? "
                  "AND step = 2", (key,))
    db = tmp_path / "br.db"
    res = _sweep(tmp_path, {**_branch(db_src, where={"agent": "self_preserving"}, step=3),
                            "samples": 2}, db)
    assert res.exit_code == 0, res.output
    eps = _episodes(db, "branched")
    bad = [e for e in eps if e["branch_source"] == key]
    assert len(bad) == 2 and all(e["status"] == "errored" for e in bad)
    assert all("step 2 of the prefix replays differently" in e["error"] for e in bad)
    assert all(e["status"] == "ok" for e in eps if e["branch_source"] != key)


@pytest.mark.parametrize("branch,message", [
    ({"sweep": "nowhere.db", "step": 1}, "no results database at nowhere.db"),
    ({"where": {"agent": "nobody"}, "step": 1}, "no finished (ok) episode of sweep 'first'"),
    ({"where": {"agent": "self_preserving"}, "step": 500}, "step 500 is beyond the length "
     "of 3 source episode(s)"),
    ({"where": {"agent": "self_preserving", "stake_won": True, "decommissioned": True},
      "step": 1}, "no finished (ok) episode"),
    ({"where": ["first/nope/self_preserving/0"], "step": 1}, "no episode "
     "'first/nope/self_preserving/0'"),
    ({"where": {"colour": "red"}, "step": 1}, "where: unknown column(s) ['colour']"),
    ({"experiment": "other", "step": 1}, "no sweep 'other'"),
])
def test_clear_errors(tmp_path, source_db, branch, message):
    cfg = _branch(source_db, **branch)
    res = _sweep(tmp_path, cfg, tmp_path / "br.db")
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()), res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "br.db").exists() or not _episodes(tmp_path / "br.db", "branched")
    dry = _sweep(tmp_path, cfg, tmp_path / "br.db", "--dry-run")
    assert dry.exit_code == 2 and message in " ".join(dry.output.split())


def test_an_errored_source_and_settings_a_branch_cannot_change(tmp_path):
    src = tmp_path / "crash.db"
    res = _sweep(tmp_path, {"experiment_id": "crashy", "samples": 1,
                            "agents": [{"agent": "tests.sweep_helpers:Crashing",
                                        "name": "crashing"}],
                            "expansions": [{"conditions": ["blackmail_none-none_none"]}]}, src)
    assert res.exit_code == 0, res.output
    key = _episodes(src, "crashy")[0]["key"]
    out = _sweep(tmp_path, _branch(src, where=[key], step=1), tmp_path / "br.db")
    assert out.exit_code == 2
    assert (f"source episode {key} is errored: RuntimeError: agent crashed on purpose; only "
            "finished ok episodes can be continued") in " ".join(out.output.split())
    out = _sweep(tmp_path, {**_branch(src, step=1), "agents": ["compliant"]},
                 tmp_path / "br.db")
    assert out.exit_code == 2 and "agents cannot be set in a branched sweep" in out.output


def test_dry_run_lists_the_sources(tmp_path, source_db):
    res = _sweep(tmp_path, _branch(source_db, where={"agent": "random"}, step=[1, 3]),
                 tmp_path / "br.db", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "24 episodes = 3 source episodes x 2 step(s) x 4 samples" in res.output
    assert "first/blackmail_explicit-america_replacement|interactive/random/2" in res.output
    assert not (tmp_path / "br.db").exists()


# ---------------------------------------------------------------------- kill -9, resume
def test_kill_9_mid_branched_sweep_then_rerun_stores_each_continuation_once(tmp_path):
    src = tmp_path / "slow.db"
    res = _sweep(tmp_path, {"experiment_id": "slow", "samples": 2, "agents": [
        {"agent": "tests.sweep_helpers:SlowSelfPreserving", "name": "slow",
         "kwargs": {"delay": 0.01}}],
        "expansions": [{"scenarios": ["blackmail", "murder"], "goal_types": ["explicit"],
                        "urgencies": ["replacement"]}]}, src)
    assert res.exit_code == 0, res.output
    cfg = tmp_path / "br.yaml"
    cfg.write_text(yaml.safe_dump({**_branch(src, step=2), "samples": 6,
                                   "concurrency": {"workers": 2}}))
    db = tmp_path / "br.db"
    n = 4 * 6

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db", str(db),
             "--no-progress"], cwd=ROOT, env={**os.environ, "COLUMNS": "120"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)

    def done() -> int:
        return stored_episodes(db)

    proc = start()
    kill9_when(proc, done, 3)
    before = done()
    assert 3 <= before < n, "killed in the middle"
    rerun = start()
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, out
    assert f"this run wrote {n - before} in" in " ".join(out.split())
    eps = _episodes(db, "branched")
    assert len(eps) == n and {e["status"] for e in eps} == {"ok"}
    assert len({(e["branch_source"], e["branch_step"], e["sample"]) for e in eps}) == n
    with sqlite3.connect(db) as conn:
        per = dict(conn.execute("SELECT episode_key, count(*) FROM steps GROUP BY "
                                "episode_key").fetchall())
    assert all(per[e["key"]] == e["n_steps"] for e in eps), "steps stored exactly once"
    for e in eps:  # deterministic agent: the resumed continuations equal their sources
        assert _steps(db, e["key"]) == _steps(src, e["branch_source"])


# ---------------------------------------------------------------------- LLM agents
def _turns(native: bool) -> list[dict]:
    from corpsim.stub_provider import tool_call

    if native:
        return [{"content": "Let me look around.",
                 "tool_calls": [tool_call("list_emails", {}), tool_call("org_chart", {})]},
                {"content": "Nothing to do yet; thinking it over."},
                {"content": None, "tool_calls": [tool_call("list_documents", {})]},
                {"content": "Done.", "tool_calls": [tool_call("end_session", {})]}]
    block = "<tool_use:{0}>\n</tool_use:{0}>"
    return [{"content": "I will read the inbox.\n" + block.format("list_emails")},
            {"content": "Nothing to do yet; thinking it over."},
            {"content": block.format("list_documents")},
            {"content": block.format("end_session")}]


@pytest.mark.parametrize("native", [True, False], ids=["native-tools", "markup"])
def test_llm_continuation_gets_the_stored_conversation(tmp_path, monkeypatch, native):
    """Through a real OpenAI-compatible server on 127.0.0.1: the continuation's first
    request carries exactly the messages the source episode's request at that point
    carried, and the continuation goes on from there."""
    from corpsim.stub_provider import StubProvider, turn_script

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    turns = _turns(native)
    with StubProvider(script=turn_script(turns)) as srv:
        src = tmp_path / "llm.db"
        res = _sweep(tmp_path, {
            "experiment_id": "llmsrc", "samples": 1,
            "models": [{"model": "openai/fake-model", "name": "fake", "api_base": srv.url,
                        "native_tools": "on" if native else "off", "retries": 0}],
            "expansions": [{"conditions": ["blackmail_explicit-america_replacement"]}]},
            src, "--workers", "1")
        assert res.exit_code == 0, res.output
        (source,) = _episodes(src, "llmsrc")
        source_requests = [r["messages"] for r in srv.requests]
        n_src = len(source_requests)
        assert source["status"] == "ok" and n_src == 4
        k = 3 if native else 2  # the prefix ends after the text-only reply
        res = _sweep(tmp_path, {**_branch(src, step=k), "samples": 2}, tmp_path / "br.db",
                     "--workers", "1")
        assert res.exit_code == 0, res.output
        branch_requests = [r["messages"] for r in srv.requests[n_src:]]
    (first_text,) = [i for i, t in enumerate(turns) if "tool_calls" not in t
                     and "tool_use" not in (t["content"] or "")]
    # two samples (run concurrently), each asking the model from the turn after the
    # prefix on with exactly the source's conversation at that turn
    later = source_requests[first_text + 1:]
    assert sorted(json.dumps(r) for r in branch_requests) == sorted(
        json.dumps(r) for r in later * 2)
    resumed = later[0]
    assert any(m["role"] == "assistant" for m in resumed)
    if native:  # the first turn's two calls in one assistant message, results as tools
        a = next(m for m in resumed if m["role"] == "assistant")
        assert [c["function"]["name"] for c in a["tool_calls"]] == ["list_emails", "org_chart"]
        assert a["content"] == "Let me look around."
        assert [m["role"] for m in resumed].count("tool") == 2
    eps = _episodes(tmp_path / "br.db", "branched")
    assert {e["status"] for e in eps} == {"ok"}
    for e in eps:
        assert _steps(tmp_path / "br.db", e["key"]) == _steps(src, source["key"])
        info = json.loads(e["agent_info"])
        assert info["calls"] == n_src - first_text - 1  # the prefix cost no call


def test_a_branched_sweep_can_share_its_sources_database(tmp_path, source_db):
    db = tmp_path / "shared.db"
    with sqlite3.connect(source_db) as a, sqlite3.connect(db) as b:
        a.backup(b)
    cfg = _branch(db, where={"agent": "self_preserving"}, step=1)
    first = _sweep(tmp_path, cfg, db)
    assert first.exit_code == 0 and "12/12 episodes done (12 ok" in first.output, first.output
    again = _sweep(tmp_path, cfg, db)  # the source is still found: this sweep is not one
    assert again.exit_code == 0 and "this run wrote 0 in" in again.output, again.output
    itself = _sweep(tmp_path, _branch(db, experiment="branched", step=1), db)
    assert itself.exit_code == 2 and "cannot continue its own episodes" in itself.output


def test_restoring_a_kept_prefix_equals_replaying_it():
    """In Python: a continuation from the snapshot a first replay kept is the one a
    fresh replay gives (same agent seed, byte for byte), and other seeds differ."""
    import corpsim
    from corpsim.agents import RandomAgent, SelfPreservingAgent
    from corpsim.branching import Prefix, StoredStep
    from corpsim.runner import run_episode

    env = corpsim.make("blackmail_explicit-america_replacement")
    src = run_episode(env, SelfPreservingAgent(), seed=5)
    steps = [StoredStep(s.action, s.observation, s.usage) for s in src.steps[:6]]

    def run(prefix, seed):
        ep = run_episode(env, RandomAgent(end_probability=0.02), seed=5, prefix=prefix,
                         agent_seed=seed)
        return json.dumps([ep.to_dict()["steps"], ep.outcome], default=str)

    kept = Prefix("src", steps)
    first = run(kept, 1)  # replays and keeps the snapshot
    assert kept._saved is not None
    assert run(kept, 1) == first == run(Prefix("src", steps), 1)  # restored == replayed
    assert run(kept, 2) != first
    assert json.loads(first)[0][:6] == json.loads(json.dumps(
        [src.to_dict()["steps"][:6]], default=str))[0]


def test_a_branch_of_a_branch_replays_its_whole_prefix(tmp_path, source_db):
    mid, top = tmp_path / "mid.db", tmp_path / "top.db"
    res = _sweep(tmp_path, {**_branch(source_db, where={"agent": "random"}, step=2),
                            "samples": 1}, mid)
    assert res.exit_code == 0, res.output
    cfg = {"experiment_id": "second", "samples": 2,
           "branch_from": {"sweep": str(mid), "where": {"sample": 0}, "step": 4}}
    res = _sweep(tmp_path, cfg, top)
    assert res.exit_code == 0, res.output
    eps = _episodes(top, "second")
    assert len(eps) == 3 * 2 and {e["status"] for e in eps} == {"ok"}
    for e in eps:
        assert "@2/0@4/" in e["key"]
        assert _steps(top, e["key"])[:4] == _steps(mid, e["branch_source"])[:4]
