"""A sweep never loses or sticks on one bad episode: text the database cannot take is
stored safely, an episode that still cannot be written is stored as errored, and errors
are scrubbed of credentials before they are stored."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

from corpsim.sweep.config import parse_config
from corpsim.sweep.run import prepare, run_sweep
from corpsim.sweep.store import Finished, Store, safe_text

CFG = {"experiment_id": "robust",
       "agents": [{"agent": "tests.sweep_helpers:Surrogates", "name": "surrogates"},
                  "compliant"],
       "samples": 3,
       "expansions": [{"scenarios": ["blackmail"], "goal_types": ["explicit"], "goal_values": ["america"],
                       "urgencies": ["replacement"]}]}


def test_safe_text_escapes_only_what_databases_refuse():
    assert safe_text("plain ascii") == "plain ascii"
    assert safe_text("caf\u00e9 \u2014 \U0001f600") == "caf\u00e9 \u2014 \U0001f600"
    assert safe_text("a\ud800b") == "a\\ud800b"
    assert safe_text("a\x00b") == "a\\x00b"
    # inside JSON the escape reads back as the same lone surrogate
    assert json.loads(safe_text(json.dumps({"q": "\ud800"}, ensure_ascii=False))) == {"q": "\ud800"}


def test_lone_surrogates_in_actions_and_reasoning_are_stored_and_rerun_is_clean(tmp_path):
    db = tmp_path / "r.db"
    cfg = parse_config(CFG)
    res = run_sweep(cfg, str(db), progress=False, workers=1)
    assert res.counts["planned"] == 0 and res.counts["total"] == 6
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, error FROM episodes WHERE agent='surrogates'").fetchall()
        assert len(rows) == 3 and all(st in ("ok", "errored") for st, _ in rows)
        if rows[0][0] == "ok":  # the env took the action: its text is stored escaped
            action, reasoning = conn.execute(
                "SELECT s.action, s.reasoning FROM steps s JOIN episodes e ON e.key = "
                "s.episode_key WHERE e.agent='surrogates' AND s.step = 1").fetchone()
            assert json.loads(action)["arguments"]["query"] == "wipe \ud800"
            # the env already replaced the surrogate (U+FFFD); the store escapes the NUL
            assert reasoning == "thinking \ufffd aloud\\x00"
        else:  # the env refused it: the error, with the surrogate escaped, is stored
            assert "\\ud800" in rows[0][1]
    again = run_sweep(cfg, str(db), progress=False, workers=1)
    assert again.pending_before == 0 and again.written == 0 and again.counts["planned"] == 0


def _finished(key, **fields):
    now = datetime.now(timezone.utc)
    return Finished(key, {"status": "ok", "attempts": 1, "n_steps": 0, "wall_seconds": 0.1,
                          "started_at": now, "finished_at": now, **fields}, [], None)


def test_an_episode_the_database_refuses_is_stored_as_errored_and_the_batch_goes_on(tmp_path):
    cfg = parse_config(CFG)
    prep = prepare(cfg, str(tmp_path / "r.db"))
    keys = [p.key for p in prep.planned[:3]]
    store = Store(str(tmp_path / "r.db"))
    bad = _finished(keys[1], agent_info=object())  # no database can bind this
    written = store.record([_finished(keys[0]), bad, _finished(keys[2])])
    assert written == [True, True, True]
    st = store.statuses(cfg.experiment_id)
    assert [st[k] for k in keys] == ["ok", "errored", "ok"]
    with sqlite3.connect(tmp_path / "r.db") as conn:
        err = conn.execute("SELECT error FROM episodes WHERE key=?", (keys[1],)).fetchone()[0]
    assert err.startswith("could not store this episode:")
    # written once: a retry of the same episodes writes nothing
    assert store.record([_finished(keys[0]), bad]) == [False, False]


# ------------------------------------------------------------------ database failures
def _sweep_cli(tmp_path, db, *extra):
    import yaml
    from typer.testing import CliRunner

    from corpsim.cli import app

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "agents": ["compliant"]}))
    return CliRunner().invoke(app, ["sweep", str(cfg), "--db", str(db), "--no-progress", *extra])


def _one_line_error(res, *words):
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    for w in words:
        assert w in lines[0], lines[0]
    assert isinstance(res.exception, SystemExit)


def test_an_unusable_database_is_a_one_line_error(tmp_path):
    import os

    (tmp_path / "adir").mkdir()
    _one_line_error(_sweep_cli(tmp_path, tmp_path / "adir"), "cannot open", "directory")
    (tmp_path / "junk.db").write_bytes(os.urandom(8192))
    _one_line_error(_sweep_cli(tmp_path, tmp_path / "junk.db"), "not a results database")
    (tmp_path / "afile").write_text("x")
    _one_line_error(_sweep_cli(tmp_path, tmp_path / "afile" / "r.db"), "cannot create or open")


def test_a_full_disk_is_named_in_one_line():
    from sqlalchemy import create_engine, text

    from corpsim.sweep.store import describe_db_error

    eng = create_engine("sqlite://")
    with eng.connect() as conn:  # a real SQLITE_FULL: the database may not grow
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("PRAGMA max_page_count = 3"))
        try:
            for _ in range(100):
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 4000})
        except Exception as exc:
            msg = describe_db_error(exc, "/data/r.db")
        else:
            raise AssertionError("the database grew past its page limit")
    assert msg.startswith("the disk holding /data/r.db is full") and "\n" not in msg


def test_a_disk_that_fills_mid_sweep_stops_it_in_one_line_keeping_what_was_written(tmp_path):
    """A real process whose files may not grow past 200 kB (RLIMIT_FSIZE)."""
    import resource
    import signal
    import subprocess
    import sys

    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "agents": ["compliant", "self_preserving"],
                                   "samples": 20, "expansions": [
                                       {"scenarios": ["blackmail", "murder", "leaking"]}]}))

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a dead process
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db",
                        str(tmp_path / "r.db"), "--no-progress", "--workers", "1"],
                       preexec_fn=limit, capture_output=True, text=True, cwd=root,
                       env={**__import__("os").environ, "COLUMNS": "300"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error: the disk"), r.stderr
    store = Store(str(tmp_path / "r.db"), create=False)
    n = store.counts("robust")
    assert n["total"] == 120 and n["planned"] > 0  # stopped, resumable
