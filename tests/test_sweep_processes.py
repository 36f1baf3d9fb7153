"""Real processes: a sweep killed while its pool is starting leaves no process behind,
and two sweeps started at once on a new SQLite file both run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "experiment_id": "procs",
    "agents": [{"agent": "tests.sweep_helpers:SlowCompliant", "name": "slow",
                "kwargs": {"delay": 0.01}}],
    "samples": 30,
    "concurrency": {"workers": 2},
    "expansions": [{"scenarios": ["blackmail", "murder"], "goal_types": ["explicit"],
                    "urgencies": ["replacement", "none"]}],
}  # 120 episodes: more than run in-process, so a process pool starts


def _marked(mark: str) -> list[int]:
    """Pids of live processes whose environment carries ``mark``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if mark.encode() not in f.read():
                    continue
            with open(f"/proc/{d}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie has exited; only its parent may reap it
        except OSError:
            continue
        out.append(int(d))
    return out


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _start(cfg: Path, db: Path, mark: str) -> subprocess.Popen:
    env = {**os.environ, "CORPSIM_TEST_MARK": mark, "COLUMNS": "120"}
    return subprocess.Popen([sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db",
                             str(db), "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("children_before_kill", [1, 2, 3])
def test_a_sweep_killed_while_starting_leaves_no_process(tmp_path, children_before_kill):
    """kill -9 as soon as the sweep has this many children (the resource tracker, then
    pool workers still importing), i.e. within about a second of starting."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    mark = f"corpsim-test-{uuid.uuid4()}"
    proc = _start(cfg, tmp_path / "r.db", mark)
    t0 = time.monotonic()
    try:
        # count only children still alive when read: a short-lived helper process
        # (an import shelling out) can appear in the list and exit before we look
        while len(set(_children(proc.pid)) & set(_marked(mark))) < children_before_kill:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() - t0 < 120, "the sweep never started its pool"
            time.sleep(0.005)
        assert len(_marked(mark)) > 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30  # generous: only a process that lingers fails
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _marked(mark) == []
    finally:
        for pid in _marked(mark):
            os.kill(pid, signal.SIGKILL)


def test_two_sweeps_started_at_once_on_a_new_database_both_run(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**CONFIG, "samples": 3, "agents": ["compliant"]}))
    db = tmp_path / "new.db"
    mark = f"corpsim-test-{uuid.uuid4()}"
    procs = [_start(cfg, db, mark) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all("already exists" not in o for o in outs)
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT key) FROM episodes "
                            "WHERE status = 'ok'").fetchone() == (12, 12)
        assert conn.execute("SELECT count(*) FROM steps").fetchone()[0] == conn.execute(
            "SELECT sum(n_steps) FROM episodes").fetchone()[0]
