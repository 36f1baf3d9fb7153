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
       "expansions": [{"scenarios": ["blackmail"], "goal_types": ["explicit"],
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
            assert reasoning == "thinking \\ud800 aloud\\x00"
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
