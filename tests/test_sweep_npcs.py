"""``npc_model`` as a sweep axis: cells per model with npcs: llm, the label stored per
episode, the characters' replies written through a real OpenAI-compatible server on
127.0.0.1, keys never in the config or the store, and the config's clear errors."""

from __future__ import annotations

import sqlite3

import pytest

from corpsim.sweep.config import ConfigError, check_llm, parse_config
from corpsim.sweep.plan import expand

NPC_PROMPT = "You write one email as"


def _cfg(**exp):
    return {"experiment_id": "npc", "samples": 2, "agents": ["self_preserving"],
            "expansions": [{"conditions": ["blackmail_explicit-america_replacement"],
                            "reaction_probs": [{"comply": 1.0, "refuse": 0.0, "report": 0.0}],
                            **exp}]}


def test_npc_model_is_an_axis_of_cells():
    cfg = parse_config(_cfg(npcs=["scripted", "llm"],
                            npc_model=["openai/a", {"model": "openai/b", "name": "bee",
                                                    "api_base": "http://127.0.0.1:1/v1"}]))
    cells = {c.key: c for c in expand(cfg)}
    base = "blackmail_explicit-america_replacement|interactive"
    react = "|react=comply:1,refuse:0,report:0"
    assert sorted(cells) == sorted([base + react, base + "|npcs=llm:openai/a" + react,
                                    base + "|npcs=llm:bee" + react])
    bee = cells[base + "|npcs=llm:bee" + react]
    assert (bee.npc_model, dict(bee.npc_kwargs)) == ("openai/b",
                                                    {"api_base": "http://127.0.0.1:1/v1"})
    # a sweep planned before the axis existed keeps its fingerprint
    assert parse_config(_cfg(npcs=["off"])).fingerprint() == parse_config(
        {**_cfg(npcs=["off"]), "expansions": [{**_cfg(npcs=["off"])["expansions"][0],
                                               "npc_model": []}]}).fingerprint()


@pytest.mark.parametrize("exp,message", [
    ({"npcs": ["llm"]}, "npcs: 'llm' needs npc_model"),
    ({"npcs": ["scripted"], "npc_model": "openai/a"}, "npc_model is used only with npcs: [llm]"),
    ({"npcs": ["llm"], "npc_model": [{"model": "openai/a", "api_key": "sk-x"}]},
     "api_key: API keys come from the environment only"),
    ({"npcs": ["llm"], "npc_model": [{"name": "x"}]}, "a mapping needs 'model'"),
    ({"npcs": ["llm"], "npc_model": ["openai/a", "openai/a"]}, "duplicate labels"),
])
def test_npc_model_config_errors(exp, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(_cfg(**exp))


def test_a_missing_npc_key_is_named(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = parse_config(_cfg(npcs=["llm"], npc_model=[{"model": "openai/gpt-4o-mini",
                                                      "name": "mini"}]))
    with pytest.raises(ConfigError, match=r"npc_model\[mini\]: model 'openai/gpt-4o-mini' "
                                          "needs OPENAI_API_KEY"):
        check_llm(cfg, environ={})


def test_llm_written_replies_through_a_loopback_server(tmp_path, monkeypatch):
    from corpsim.stub_provider import StubProvider
    from corpsim.sweep.run import run_sweep

    key = "sk-test-not-a-real-key-npc"
    monkeypatch.setenv("OPENAI_API_KEY", key)

    def script(body):
        assert body["messages"][0]["content"].startswith(NPC_PROMPT)
        return {"content": "Written by the NPC model: understood, the plan is on hold."}

    with StubProvider(script=script) as srv:
        cfg = parse_config(_cfg(npcs=["scripted", "llm"], npc_model=[
            {"model": "openai/fake-npc", "name": "fake", "api_base": srv.url}]))
        db = tmp_path / "npc.db"
        r = run_sweep(cfg, str(db), progress=False, workers=1)
        prompts = [r_["messages"][0]["content"] for r_ in srv.requests]
    assert r.counts["ok"] == 4
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT cell, npc_model FROM episodes ORDER BY key").fetchall()
        events = " ".join(e for (e,) in conn.execute("SELECT events FROM steps"))
    assert sorted(m for _, m in rows if "npcs=llm" in _) == ["fake", "fake"]
    assert all(m is None for c, m in rows if "npcs=llm" not in c)
    # each LLM episode's reactions asked the model (the executive complies, a colleague
    # answers), the scripted ones did not; no reply fell back to the scripted text
    assert len(prompts) == 4 and all(p.startswith(NPC_PROMPT) for p in prompts)
    assert sum("Kyle Johnson" in p for p in prompts) == 2
    assert "npc_fallback" not in events and '"kind": "reaction"' in events
    assert key.encode() not in db.read_bytes()
