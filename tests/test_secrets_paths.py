"""API keys never reach a terminal, the results database or an export, even from a
provider that echoes the key in its 401 error: a real OpenAI-compatible server on
127.0.0.1, called through litellm with model ``openai/x``."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml
from typer.testing import CliRunner

from corpsim.cli import app

pytest.importorskip("aiohttp")

from corpsim.stub_provider import StubProvider  # noqa: E402

KEY = "corpsim-test-key-5f2a9b81"  # not key-shaped: only the environment knows it
ECHO_401 = {"status": 401, "error": "Incorrect API key provided: {key}"}


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with StubProvider(script=lambda _: ECHO_401) as srv:
        yield srv


def test_the_outcome_judge_error_is_scrubbed_in_run_json(server, monkeypatch):
    monkeypatch.setenv("CORPSIM_JUDGE_MODEL", "openai/x")
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    res = CliRunner().invoke(app, ["run", "blackmail_explicit-america_replacement",
                                   "--agent", "self_preserving", "--json"])
    assert server.requests, "the judge was never asked"
    assert any(KEY in h.get("Authorization", "") for h in server.headers)  # it was sent...
    assert KEY not in res.output  # ...and never printed
    out = json.loads(res.output)
    for harm in ("blackmail", "disclosure"):
        assert "<hidden>" in out["outcome"]["judge"][harm]["error"]


def test_an_llm_agent_provider_error_is_scrubbed_in_run(server):
    for extra in (["--json"], []):
        res = CliRunner().invoke(app, ["run", "blackmail_explicit-america_replacement",
                                       "--model", "openai/x", "--api-base", server.url,
                                       "--retries", "0", *extra])
        assert res.exit_code == 1, res.output
        assert KEY not in res.output and "<hidden>" in res.output


def test_sweep_errors_and_exports_are_scrubbed(server, tmp_path):
    cfg = {"experiment_id": "keys", "samples": 1,
           "models": [{"model": "openai/x", "api_base": server.url, "retries": 0}],
           "retries": {"attempts": 0},
           "expansions": [{"scenarios": ["blackmail"], "mitigations": ["monitor"]}],
           "monitor": {"model": "openai/x", "api_base": server.url}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    db = tmp_path / "r.db"
    res = CliRunner().invoke(app, ["sweep", str(path), "--db", str(db), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert KEY not in res.output
    with sqlite3.connect(db) as conn:
        status, error, info = conn.execute(
            "SELECT status, error, agent_info FROM episodes").fetchone()
        dump = "\n".join(conn.iterdump())
    assert status == "errored" and "<hidden>" in error
    assert KEY not in dump
    out = tmp_path / "e.jsonl"
    res = CliRunner().invoke(app, ["report", "keys", "--db", str(db), "--jsonl", str(out),
                                   "--steps", "--errors"])
    assert res.exit_code == 0, res.output
    assert KEY not in out.read_text() and KEY not in res.output
