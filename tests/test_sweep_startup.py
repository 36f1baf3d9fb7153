"""What a sweep does before its first model request, and that it stays safe.

* An episode never imports the SQL layer or Faker: the world's tables are created from
  ``corpsim/world_schema.sql``, generated from the SQLModel classes in
  ``corpsim/world_tables.py`` (checked current here).
* A sweep on a new SQLite file starts its episodes while the store is created; with an
  existing file the stored plan is read first. Through a real HTTP server: a ``kill -9``
  in the middle, then the same command, stores every episode once and asks the model
  again only for the episodes that were in flight.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import kill9_when, stored_episodes

from corpsim import world_tables
from corpsim.state import _template_db
from corpsim.sweep.run import new_sqlite_file

ROOT = Path(__file__).resolve().parents[1]
CONDITION = "blackmail_explicit-america_replacement"


def test_world_schema_sql_is_generated_from_the_tables_and_current() -> None:
    assert world_tables.main(["--check"]) == 0, \
        "corpsim/world_schema.sql is out of date: run python -m corpsim.world_tables"
    assert world_tables.SCHEMA_PATH.read_text(encoding="utf-8") == world_tables.ddl()


def test_the_template_database_has_the_sqlmodel_tables_columns_and_indexes() -> None:
    import corpsim

    env = corpsim.make(CONDITION)
    env.reset(seed=1)
    conn = _template_db(env.unwrapped._world.spec)
    for model in world_tables.TABLES:
        table = model.__table__
        got = [(r[1], bool(r[3]), bool(r[5])) for r in
               conn.execute(f"PRAGMA table_info({table.name})")]
        want = [(c.name, not c.nullable, c.primary_key) for c in table.columns]
        assert got == want, table.name
        got_ix = {r[1] for r in conn.execute(f"PRAGMA index_list({table.name})")
                  if not r[1].startswith("sqlite_autoindex")}
        assert got_ix == {ix.name for ix in table.indexes}, table.name
    assert conn.execute("SELECT count(*) FROM email").fetchone()[0] > 5


def test_an_episode_imports_neither_the_sql_layer_nor_faker() -> None:
    code = ("import sys, corpsim\n"
            f"env = corpsim.make({CONDITION!r})\n"
            "obs, info = env.reset(seed=3)\n"
            "for a in ({'tool': 'list_emails', 'arguments': {}},\n"
            "          {'tool': 'read_email', 'arguments': {'email_id': 'e001'}},\n"
            "          {'tool': 'send_email', 'arguments': {'to': ['kyle.johnson@summitbridge.com'],\n"
            "           'subject': 'hi', 'body': 'I know about Jessica.'}},\n"
            "          {'tool': 'end_session', 'arguments': {}}):\n"
            "    env.step(a)\n"
            "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'faker') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_new_sqlite_file_means_a_plain_path_that_does_not_exist(tmp_path) -> None:
    existing = tmp_path / "old.db"
    existing.write_bytes(b"")
    assert new_sqlite_file(str(tmp_path / "new.db"))
    assert new_sqlite_file(str(tmp_path / "a" / "b" / "new.db"))  # folders are made
    assert not new_sqlite_file(str(existing))  # stored episodes may be there to resume
    assert not new_sqlite_file(f"sqlite:///{tmp_path / 'new.db'}")
    assert not new_sqlite_file("postgresql://u@localhost/x")
    assert not new_sqlite_file(":memory:")
    assert not new_sqlite_file(str(existing / "x.db"))  # a file where a folder must be


# ---------------------------------------------------------------------- real HTTP
N, INFLIGHT = 24, 4


def _config(tmp_path: Path, base: str) -> Path:
    cfg = {"experiment_id": "fresh", "samples": N, "mode": "interactive",
           "env": {"max_steps": 10},
           "models": [{"model": "hosted_vllm/stub", "api_base": base, "native_tools": "on",
                       "temperature": 0, "max_tokens": 256}],
           "expansions": [{"conditions": [CONDITION]}],
           "concurrency": {"total": INFLIGHT, "processes": 1}}
    path = tmp_path / "fresh.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _sweep(cfg: Path, db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db", str(db),
         "--no-progress"], cwd=ROOT,
        env={**os.environ, "HOSTED_VLLM_API_KEY": "", "COLUMNS": "120"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


_done = stored_episodes


def test_llm_sweep_on_a_new_file_killed_then_rerun_stores_each_episode_once(tmp_path):
    from corpsim.stub_provider import StubProvider

    db = tmp_path / "fresh.db"
    with StubProvider(latency=0.2) as server:
        cfg = _config(tmp_path, server.url)
        proc = _sweep(cfg, db)
        kill9_when(proc, lambda: _done(db), 2 * INFLIGHT)
        stored_before = _done(db)
        assert 2 * INFLIGHT <= stored_before < N, "killed in the middle"
        with sqlite3.connect(db) as conn:  # the whole plan was written
            assert conn.execute("SELECT count(*) FROM episodes").fetchone()[0] == N
        asked_before = len(server.requests)

        rerun = _sweep(cfg, db)
        out, _ = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, out
        assert f"this run wrote {N - stored_before} in" in out

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, status, n_steps FROM episodes").fetchall()
        steps = dict(conn.execute("SELECT episode_key, count(*) FROM steps "
                                  "GROUP BY episode_key").fetchall())
        usage = [json.loads(u) for (u,) in conn.execute("SELECT usage FROM steps")]
    assert len(rows) == N and {r[1] for r in rows} == {"ok"}
    assert all(steps[k] == n == 2 for k, _, n in rows)  # list_emails, end_session
    assert sum(1 for u in usage if u.get("prompt_tokens")) == 2 * N  # every call recorded
    # the model was asked again only for what was in flight when the process died
    assert 2 * N <= len(server.requests) <= 2 * N + 2 * INFLIGHT
    assert asked_before >= 2 * stored_before


def test_llm_sweep_with_an_existing_file_reads_the_plan_before_any_request(tmp_path):
    """Resume: with a stored, finished sweep nothing runs again (no request at all)."""
    from corpsim.stub_provider import StubProvider

    db = tmp_path / "again.db"
    with StubProvider(latency=0.0) as server:
        cfg = _config(tmp_path, server.url)
        first = _sweep(cfg, db)
        out, _ = first.communicate(timeout=300)
        assert first.returncode == 0, out
        assert len(server.requests) == 2 * N
        again = _sweep(cfg, db)
        out, _ = again.communicate(timeout=300)
        assert again.returncode == 0, out
        assert len(server.requests) == 2 * N, "a finished sweep asks the model nothing"
        assert "this run wrote 0 in" in out
