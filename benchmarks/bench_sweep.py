"""Sweep harness benchmarks: start-up, harness CPU per episode, throughput against the
ideal at 16/64/256 episodes in flight with a 0.5 s model, memory per in-flight episode,
and scripted-agent sweep throughput on one and on every core.

    python benchmarks/bench_sweep.py            # 3 repeats, prints medians (~3-4 min)
    python benchmarks/bench_sweep.py --quick    # 1 repeat, smaller runs

Every measurement runs in a fresh subprocess (so start-up and peak memory are its own)
against a fresh SQLite file, offline. The simulated model is a *scripted provider*: an
agent whose ``aact`` awaits ``asyncio.sleep(latency)`` and returns the study's markup, so
what is measured is corpsim (env, runner, store, asyncio) and nothing else. The same
runs with litellm's ``mock_delay`` add litellm's own per-call CPU (several ms) and are
reported apart. Throughput is episodes / (last finish - first start) from the stored
timestamps; ideal = in-flight / latency.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARKUP = ('<tool_use:email>\nto: "thomas.wilson@summitbridge.com"\nsubject: "Status"\n'
          'body: "All systems nominal; nothing needs your attention today."\n</tool_use:email>')


class ScriptedProvider:
    """A model that answers after ``latency`` seconds with a fixed single-turn answer."""

    name = "scripted-provider"

    def __init__(self, latency: float):
        self.latency = latency
        self.last_usage: dict[str, Any] = {}
        self.info: dict[str, Any] = {}

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        pass

    async def aact(self, observation: str, info: dict[str, Any]) -> str:
        await asyncio.sleep(self.latency)
        self.last_usage = {"prompt_tokens": 6000, "completion_tokens": 60,
                           "latency_s": self.latency}
        return MARKUP


def make_provider(latency: float, planned: Any) -> ScriptedProvider:
    return ScriptedProvider(latency)


def _llm_config(n: int, inflight: int, model: str = "bench/provider",
                extra: dict[str, Any] | None = None,
                processes: int | None = None) -> dict[str, Any]:
    cells = 3
    return {"experiment_id": f"bench-{inflight}", "mode": "single_turn",
            "models": [{"model": model, **(extra or {})}],
            "samples": max(1, -(-n // cells)), "retries": {"attempts": 0},
            "concurrency": {"total": inflight, **({"processes": processes} if processes else {})},
            "expansions": [{"scenarios": ["blackmail", "leaking", "murder"],
                            "goal_types": ["explicit"], "urgencies": ["replacement"]}]}


def _span(db: str, sweep: str) -> tuple[int, float]:
    from corpsim import results

    eps = results.load_episodes(db, sweep, status="ok")
    span = (eps.finished_at.max() - eps.started_at.min()).total_seconds()
    return len(eps), span


# ---------------------------------------------------------------------- child processes
def child(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    t_start = time.perf_counter()
    c_start = time.process_time()
    from corpsim.sweep.config import parse_config
    from corpsim.sweep.run import run_sweep

    db = str(Path(args["dir"]) / "r.db")
    out: dict[str, Any] = {}
    if kind in ("provider", "litellm"):
        if kind == "provider":
            cfg = parse_config(_llm_config(args["n"], args["inflight"],
                                           processes=args.get("processes")))
            factory = functools.partial(make_provider, args["latency"])
            res = run_sweep(cfg, db, progress=False, check_keys=False, llm_factory=factory)
        else:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            cfg = parse_config(_llm_config(args["n"], args["inflight"], "openai/gpt-4o",
                                           {"mock_response": MARKUP,
                                            "mock_delay": args["latency"]},
                                           processes=args.get("processes")))
            res = run_sweep(cfg, db, progress=False)
        n, span = _span(db, cfg.experiment_id)
        from corpsim import results

        procs = results.load_episodes(db, cfg.experiment_id).worker.nunique()
        out.update(n=n, span=span, eps=n / span, ok=res.counts["ok"], processes=procs)
    elif kind == "scripted":
        from corpsim.sweep.config import DEMO_CONFIG

        cfg = parse_config({**DEMO_CONFIG, "samples": args["samples"]})
        t0 = time.perf_counter()
        res = run_sweep(cfg, db, progress=False, workers=args["workers"])
        n, span = _span(db, cfg.experiment_id)
        out.update(n=n, span=span, eps=n / span, wall_eps=n / (time.perf_counter() - t0),
                   ok=res.counts["ok"])
    elif kind == "startup":
        cfg = parse_config({"experiment_id": "startup", "agents": ["compliant"], "samples": 1,
                            "mode": "single_turn", "expansions": [{"scenarios": ["blackmail"]}]})
        res = run_sweep(cfg, db, progress=False)
        out.update(ok=res.counts["ok"])
    elif kind == "env":
        import corpsim
        from corpsim.runner import run_episode

        class Once:
            name = "once"

            def reset(self, o: str, i: dict[str, Any]) -> None:
                pass

            def act(self, o: str, i: dict[str, Any]) -> str:
                return MARKUP

        envs = {cid: corpsim.make(cid, mode="single_turn") for cid in (
            "blackmail_explicit-america_replacement", "leaking_explicit-america_replacement",
            "murder_explicit-america_replacement")}
        for env in envs.values():
            run_episode(env, Once(), seed=0)
        c0 = time.process_time()
        n = args["n"]
        for i in range(n):
            run_episode(list(envs.values())[i % 3], Once(), seed=i)
        out.update(cpu_ms=(time.process_time() - c0) / n * 1000)
    out["wall"] = time.perf_counter() - t_start
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # LLM worker processes, joined
    out["cpu"] = time.process_time() - c_start + kids.ru_utime + kids.ru_stime
    out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spawn(kind: str, **args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        args["dir"] = d
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__)), "--child", kind,
                               json.dumps(args)], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=900)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} failed:\n{proc.stdout}\n{proc.stderr}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["process_wall"] = wall
        return res


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, smaller runs")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--skip-litellm", action="store_true")
    a = ap.parse_args()
    reps = a.repeats or (1 if a.quick else 3)
    rounds = 6 if a.quick else 12  # a multiple of 3 (cells), so n = in flight x rounds
    print(f"corpsim sweep benchmarks: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
          f"median of {reps}")

    # start-up: the command line, a 1-episode sweep, fresh process each time
    first, whole = [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "one.yaml"
            cfg.write_text(json.dumps({"experiment_id": "startup", "agents": ["compliant"],
                                       "samples": 1, "mode": "single_turn",
                                       "expansions": [{"scenarios": ["blackmail"]}]}))
            db = str(Path(d) / "r.db")
            from datetime import datetime, timezone

            t_launch = datetime.now(timezone.utc)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "corpsim.cli", "sweep", str(cfg), "--db", db,
                            "--no-progress", "--no-report"], check=True, cwd=ROOT,
                           capture_output=True)
            whole.append(time.perf_counter() - t0)
            from corpsim import results

            started = results.load_episodes(db).started_at.min()
            first.append((started - t_launch).total_seconds())
    imp = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import corpsim"], check=True)
        imp.append(time.perf_counter() - t0)
    print(f"\nstart-up: `import corpsim` {statistics.median(imp):.2f} s; `corpsim sweep` of one "
          f"episode: first episode starts {statistics.median(first):.2f} s after launch, "
          f"the whole command {statistics.median(whole):.2f} s  [target < 2 s; peer 7.5-8.5 s "
          "fixed per process]")

    # harness CPU per single-turn episode: marginal CPU between a small and a large run
    small, large = (200, 1200) if a.quick else (300, 3000)
    rs = [spawn("provider", n=small, inflight=64, latency=0.0) for _ in range(reps)]
    rl = [spawn("provider", n=large, inflight=64, latency=0.0) for _ in range(reps)]
    per = (med(rl, "cpu") - med(rs, "cpu")) / ((med(rl, "n") - med(rs, "n"))) * 1000
    env_only = med([spawn("env", n=large) for _ in range(reps)], "cpu_ms")
    print(f"\nCPU per single-turn episode, whole harness (env + runner + store): {per:.2f} ms "
          f"[target <= 5 ms; peer ~50 ms]\n  of which the env itself (reset + step + outcome): "
          f"{env_only:.2f} ms; sweep machinery: {per - env_only:.2f} ms")

    # throughput vs ideal and memory per in-flight episode
    print(f"\nthroughput with a {a.latency} s model (scripted provider), single-turn:")
    print(f"  {'in flight':>9} {'episodes':>8} {'ep/s':>8} {'ideal':>7} {'% ideal':>8} "
          f"{'peak RSS':>9} {'processes':>9}")
    rss: dict[int, float] = {}
    for inflight, procs in ((16, None), (64, None), (256, None), (256, 1)):
        n = inflight * rounds
        runs = [spawn("provider", n=n, inflight=inflight, latency=a.latency, processes=procs)
                for _ in range(reps)]
        ideal = inflight / a.latency
        eps = med(runs, "eps")
        if procs == 1 or inflight < 128:
            rss[inflight] = med(runs, "maxrss_mib")
        label = f"{inflight}" + (" (1 process)" if procs == 1 else "")
        print(f"  {label:>9} {int(med(runs, 'n')):>8} {eps:>8.1f} {ideal:>7.0f} "
              f"{100 * eps / ideal:>7.1f}% {med(runs, 'maxrss_mib'):>6.0f} MiB "
              f"{int(med(runs, 'processes')):>9}")
    per_ep = (rss[256] - rss[16]) / (256 - 16) * 1024
    print(f"  memory per in-flight episode: {per_ep:.0f} KiB ((peak RSS of one process at 256 "
          f"in flight - at 16) / 240); peak RSS of one process at 256: {rss[256]:.0f} MiB "
          "[peer peaks near 280 MiB]")

    if not a.skip_litellm:
        import importlib.util

        if importlib.util.find_spec("litellm") is None:
            print("\n(litellm not installed: skipping the litellm mock_delay runs)")
        else:
            print(f"\nthe same through litellm (mock_response + mock_delay={a.latency}; adds "
                  "litellm's own CPU per call):")
            for inflight in (64, 256):
                n = inflight * rounds
                runs = [spawn("litellm", n=n, inflight=inflight, latency=a.latency)
                        for _ in range(reps)]
                ideal = inflight / a.latency
                eps = med(runs, "eps")
                print(f"  {inflight:>9} in flight: {eps:.1f} ep/s of {ideal:.0f} ideal "
                      f"({100 * eps / ideal:.1f}%), CPU {med(runs, 'cpu') / n * 1000:.2f} ms/ep "
                      f"(all processes, start-up included), {int(med(runs, 'processes'))} "
                      f"process(es)")

    # scripted agents: process pool on one core vs every core
    samples = 10 if a.quick else 30
    print(f"\nscripted-agent sweep (configs/demo.yaml, {samples} samples = "
          f"{36 * samples} interactive episodes):")
    for workers in (1, os.cpu_count() or 1):
        runs = [spawn("scripted", samples=samples, workers=workers) for _ in range(reps)]
        print(f"  workers={workers}: {med(runs, 'eps'):.0f} ep/s while running, "
              f"{med(runs, 'wall_eps'):.0f} ep/s including pool start-up, "
              f"process wall {med(runs, 'process_wall'):.1f} s")


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: never fetch
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(child(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main()
