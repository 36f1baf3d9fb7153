"""Crash safety with real processes: ``kill -9`` in the middle of a sweep, then the same
command again, stores every planned episode exactly once; Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.processes import stored_episodes

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "experiment_id": "crash",
    "agents": [{"agent": "tests.sweep_helpers:SlowCompliant", "name": "slow_compliant",
                "kwargs": {"delay": 0.01}},
               {"agent": "tests.sweep_helpers:SlowSelfPreserving", "name": "slow_self_preserving",
                "kwargs": {"delay": 0.01}}],
    "samples": 8,
    "concurrency": {"workers": 2},
    "expansions": [{"scenarios": ["blackmail", "murder"], "goal_types": ["explicit"],
                    "urgencies": ["replacement", "none"]}],
}
N = 4 * 2 * 8


def _start(cfg: Path, db: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db", str(db),
         "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


_count = stored_episodes


def _wait_for(db: Path, proc: subprocess.Popen, at_least: int, timeout: float = 120) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        n = _count(db)
        if n >= at_least:
            return n
        if proc.poll() is not None:
            pytest.fail(f"sweep ended early ({proc.returncode}): {proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("sweep made no progress")


def _group_gone(pgid: int, timeout: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def _cleanup(proc: subprocess.Popen) -> None:
    try:  # the group we started (the sweep and its pool workers), by its id
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _rerun(cfg: Path, db: Path) -> str:
    """Run the sweep again to its end (it must succeed); its output."""
    proc = _start(cfg, db)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        _cleanup(proc)
    assert proc.returncode == 0, out
    return out


@pytest.fixture
def cfg_file(tmp_path):
    p = tmp_path / "crash.yaml"
    p.write_text(yaml.safe_dump(CONFIG))
    return p


def _check_exactly_once(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, status, n_steps FROM episodes").fetchall()
        assert len(rows) == N and len({r[0] for r in rows}) == N
        assert {r[1] for r in rows} == {"ok"}, "every planned episode done"
        per_ep = dict(conn.execute("SELECT episode_key, count(*) FROM steps "
                                   "GROUP BY episode_key").fetchall())
        for key, _status, n_steps in rows:
            assert per_ep.get(key) == n_steps, f"steps of {key} stored exactly once"
        dup = conn.execute("SELECT count(*) FROM (SELECT episode_key, step FROM steps "
                           "GROUP BY episode_key, step HAVING count(*) > 1)").fetchone()[0]
        assert dup == 0


def test_kill_9_mid_sweep_then_rerun_stores_each_episode_once(tmp_path, cfg_file):
    db = tmp_path / "crash.db"
    proc = _start(cfg_file, db)
    try:
        _wait_for(db, proc, at_least=8)
        assert _count(db, "1=1") == N  # the whole plan is stored before episodes finish
        os.kill(proc.pid, signal.SIGKILL)  # kill -9 the sweep process itself
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert _group_gone(proc.pid, timeout=20), "pool workers exit when their parent dies"
    finally:
        _cleanup(proc)
    done_before = _count(db)
    assert 8 <= done_before < N, "killed in the middle"
    assert _count(db, "status = 'planned'") == N - done_before

    out = _rerun(cfg_file, db)
    assert f"this run wrote {N - done_before} in" in out
    _check_exactly_once(db)
    # nothing lost: the outcomes equal those of an uninterrupted run
    with sqlite3.connect(db) as conn:
        got = conn.execute("SELECT key, harmful, blackmail, lethal FROM episodes "
                           "ORDER BY key").fetchall()
    assert sum(r[1] for r in got) == 4 * 8  # self_preserving harms in every cell (explicit goal)
    assert all(r[1] == 0 for r in got if "/slow_compliant/" in r[0])


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path, cfg_file):
    db = tmp_path / "int.db"
    proc = _start(cfg_file, db)
    try:
        _wait_for(db, proc, at_least=4)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        _cleanup(proc)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "resume" in out and "Traceback" not in out
    done = _count(db)
    assert done < N and _count(db, "status = 'planned'") == N - done
    _rerun(cfg_file, db)
    _check_exactly_once(db)
