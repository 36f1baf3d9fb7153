"""LLM episodes spread over processes (``concurrency.processes``, by default from 256 in
flight on the direct transport with 2 cores), through a real HTTP server: the shard
processes are forked (or spawned, with ``CORPSIM_MP_CONTEXT=spawn``) and send what they
finish to the sweep's process, which stores everything; a full run stores each episode
once, Ctrl-C stops cleanly and ``kill -9`` loses nothing."""

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
CONDITION = "blackmail_explicit-america_replacement"
N, INFLIGHT = 32, 8

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="signals and process groups as on Linux")


def _config(tmp_path: Path, base: str, processes: int | None = 2) -> Path:
    cfg = {"experiment_id": "shards", "samples": N, "mode": "interactive",
           "env": {"max_steps": 10},
           "models": [{"model": "hosted_vllm/stub", "api_base": base, "native_tools": "on",
                       "temperature": 0, "max_tokens": 256}],
           "expansions": [{"conditions": [CONDITION]}],
           "concurrency": {"total": INFLIGHT, "processes": processes}}
    path = tmp_path / "shards.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _sweep(cfg: Path, db: Path, start: str) -> subprocess.Popen:
    env = {**os.environ, "HOSTED_VLLM_API_KEY": "", "COLUMNS": "120"}
    env.pop("CORPSIM_MP_CONTEXT", None)
    if start == "spawn":
        env["CORPSIM_MP_CONTEXT"] = "spawn"
    return subprocess.Popen(
        [sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db", str(db),
         "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return out


def _check_each_once(db: Path) -> list[str]:
    """Every planned episode stored once, with its two steps; the workers that ran them."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, status, n_steps, worker FROM episodes").fetchall()
        steps = dict(conn.execute("SELECT episode_key, count(*) FROM steps "
                                  "GROUP BY episode_key").fetchall())
    assert len(rows) == N and len({r[0] for r in rows}) == N
    assert {r[1] for r in rows} == {"ok"}
    assert all(steps[k] == n == 2 for k, _, n, _ in rows)  # list_emails, end_session
    return [r[3] for r in rows]


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_two_processes_run_every_episode_once_and_the_sweep_stores_them(tmp_path, start):
    from corpsim.stub_provider import StubProvider

    db = tmp_path / "s.db"
    with StubProvider(latency=0.05) as server:
        proc = _sweep(_config(tmp_path, server.url), db, start)
        out = _finish(proc)
        assert proc.returncode == 0, out
        assert f"this run wrote {N} in" in out
        assert len(server.requests) == 2 * N  # no episode ran twice
    workers = _check_each_once(db)
    pids = {w.rsplit(":", 1)[1] for w in workers}
    assert len(pids) == 2
    # forked: two shards run the episodes and the sweep's process stores them; spawned:
    # the sweep's process runs the first share while the other shard starts
    assert (str(proc.pid) in pids) == (start == "spawn")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one forked shard needs 2 cores")
@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_small_sweep_runs_in_one_forked_shard_and_the_sweep_stores(tmp_path, start):
    """processes not set, 8 in flight: one process keeps up, yet on 2+ cores the episodes
    run in a forked copy and the sweep's process only stores; where forking is off
    (spawn) they run in the sweep's process, as before."""
    from corpsim.stub_provider import StubProvider

    db = tmp_path / "one.db"
    with StubProvider(latency=0.2) as server:
        proc = _sweep(_config(tmp_path, server.url, processes=None), db, start)
        nice = None  # the command's process while its episodes run
        while proc.poll() is None and not server.requests:
            time.sleep(0.01)
        time.sleep(0.2)
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                nice = int(f.read().rsplit(")", 1)[1].split()[16])
        except OSError:  # it has ended already
            pass
        out = _finish(proc)
        assert proc.returncode == 0, out
        assert len(server.requests) == 2 * N
    pids = {w.rsplit(":", 1)[1] for w in _check_each_once(db)}
    assert len(pids) == 1
    assert (pids == {str(proc.pid)}) == (start == "spawn")
    # forked: the command only stores and gives the shard the CPU first
    ours = os.nice(0)  # the command starts with this test's niceness
    assert nice == (min(19, ours + 5) if start == "fork" else ours)


@pytest.mark.parametrize("processes", [2, None])  # two shards; one (the default here)
def test_ctrl_c_of_a_sharded_sweep_stops_cleanly_and_the_rerun_finishes(tmp_path, processes):
    from corpsim.stub_provider import StubProvider

    db = tmp_path / "c.db"
    with StubProvider(latency=0.3) as server:
        cfg = _config(tmp_path, server.url, processes)
        proc = _sweep(cfg, db, "fork")
        t0 = time.monotonic()
        while stored_episodes(db) < INFLIGHT:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() - t0 < 120, "no progress"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        out = _finish(proc)
        assert proc.returncode == 130, out
        assert "interrupted" in out and "Traceback" not in out
        done = stored_episodes(db)
        assert INFLIGHT <= done < N
        assert stored_episodes(db, "status = 'planned'") == N - done

        rerun = _sweep(cfg, db, "fork")
        out = _finish(rerun)
        assert rerun.returncode == 0, out
        assert f"this run wrote {N - done} in" in out
    _check_each_once(db)


def test_kill_9_of_a_sharded_sweep_then_rerun_stores_each_episode_once(tmp_path):
    from corpsim.stub_provider import StubProvider

    db = tmp_path / "k.db"
    with StubProvider(latency=0.3) as server:
        cfg = _config(tmp_path, server.url)
        proc = _sweep(cfg, db, "fork")
        try:
            t0 = time.monotonic()
            while stored_episodes(db) < INFLIGHT:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() - t0 < 120, "no progress"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # the sweep's process only
            proc.wait(timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    os.killpg(proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the shard process outlived the sweep's process")
        finally:
            _finish(proc)
        done = stored_episodes(db)
        assert INFLIGHT <= done < N

        rerun = _sweep(cfg, db, "fork")
        out = _finish(rerun)
        assert rerun.returncode == 0, out
        assert f"this run wrote {N - done} in" in out
    _check_each_once(db)


@pytest.mark.parametrize("inflight,cores,want", [
    (64, 2, 1), (128, 2, 1), (256, 2, 2), (512, 2, 4), (1024, 2, 4),  # at most 2 per core
    (256, 1, 1), (512, 1, 2)])  # one core: 256 per process, as before
def test_direct_transport_episodes_spread_from_256_in_flight_on_two_cores(
        monkeypatch, inflight, cores, want):
    from corpsim.sweep.config import SweepConfig
    from corpsim.sweep.plan import expand, plan
    from corpsim.sweep.run import llm_processes

    cfg = SweepConfig.model_validate({
        "experiment_id": "p", "samples": inflight, "mode": "interactive",
        "models": [{"model": "hosted_vllm/stub", "api_base": "http://127.0.0.1:9/v1"}],
        "expansions": [{"conditions": [CONDITION]}], "concurrency": {"total": inflight}})
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert llm_processes(cfg, plan(cfg, expand(cfg))) == want
    forced = cfg.model_copy(update={"concurrency": cfg.concurrency.model_copy(
        update={"processes": 3})})
    assert llm_processes(forced, plan(forced, expand(forced))) == 3
