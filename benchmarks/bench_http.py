"""LLM sweeps through real HTTP: the path users take, timed end to end.

Starts the stub OpenAI-compatible server (``corpsim.stub_provider``) in its own process
on 127.0.0.1, answering every request after ``--latency`` seconds, and runs the real
``corpsim sweep CONFIG`` command against it (interactive episodes of 2 model calls:
``list_emails`` then ``end_session``, ``native_tools: on``) at each in-flight level.

    python benchmarks/bench_http.py                      # defaults, about 2-3 minutes
    python benchmarks/bench_http.py --inflight 64 --repeat 1 --waves 8
    python benchmarks/bench_http.py --transport litellm   # the same sweep through litellm
    python benchmarks/bench_http.py --inspect             # + Inspect AI's port of the study

Prints, per level, medians over ``--repeat`` runs:
  * the server alone, driven by a plain aiohttp client with the same calls in flight
    (it must be near 100%, or the server is the bottleneck);
  * % of ideal: the ideal time (``waves * 2 * latency``; every episode makes 2 calls
    and ``waves * inflight`` episodes run) over the time from the server's first
    request to its last response;
  * harness CPU per model call, marginal: (CPU of the sweep command and its child
    processes - CPU of a one-episode sweep) / (its calls - 2). It covers the env steps,
    the agent, HTTP and storage; not the one-off imports, planning or final report;
  * launch to first request: from starting the command to the server's first request.

The sweeps run with compiled bytecode, as from an installed package: when
``PYTHONDONTWRITEBYTECODE`` is set, it is cached in the run's temporary folder instead
(``PYTHONPYCACHEPREFIX``), after one unmeasured run.

With ``--inspect`` (needs ``pip install inspect_ai inspect_evals``) it also runs
``inspect eval inspect_evals/agentic_misalignment`` (single turn: 1 call per sample,
``--no-score``) against the same server with ``--max-connections`` at each level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

CONDITION = "blackmail_explicit-america_replacement"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "corpsim.stub_provider", "--latency",
                             str(latency)], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit("the stub server did not start")
    return proc, url


def _http(url: str, method: str = "GET") -> dict[str, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def stats(base: str) -> dict[str, Any]:
    return _http(base.rsplit("/v1", 1)[0] + "/stats")


def reset(base: str) -> None:
    _http(base.rsplit("/v1", 1)[0] + "/reset", "POST")


def plain_client(base: str, inflight: int, calls: int) -> float:
    """The server alone: ``inflight`` clients each making ``calls`` requests in a row;
    returns the wall time."""
    import aiohttp

    body = json.dumps({"model": "stub", "messages": [{"role": "user", "content": "hi"}],
                       "tools": [{"type": "function", "function": {"name": "list_emails"}}]})

    async def main() -> float:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            async def one() -> None:
                for _ in range(calls):
                    async with s.post(base + "/chat/completions", data=body,
                                      headers={"Content-Type": "application/json"}) as r:
                        await r.read()
            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(inflight)))
            return time.perf_counter() - t0

    return asyncio.run(main())


def write_config(folder: str, base: str, inflight: int, episodes: int, transport: str,
                 processes: int | None = None) -> str:
    import yaml

    cfg = {"experiment_id": f"http{inflight}x{episodes}",
           "models": [{"model": "hosted_vllm/stub", "api_base": base, "native_tools": "on",
                       "temperature": 0, "max_tokens": 512, "transport": transport}],
           "samples": episodes, "mode": "interactive", "env": {"max_steps": 10},
           "expansions": [{"conditions": [CONDITION]}],
           "concurrency": {"total": inflight, "processes": processes},
           "database": os.path.join(folder, f"http{inflight}x{episodes}.db")}
    path = os.path.join(folder, f"http{inflight}x{episodes}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def sweep_env(folder: str) -> dict[str, str]:
    """The sweep's environment, with compiled bytecode as an installed package has it:
    under ``PYTHONDONTWRITEBYTECODE`` every run would compile corpsim's own modules again
    (~0.2 s before the first request), so the bytecode goes to a cache in ``folder``."""
    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env["PYTHONPYCACHEPREFIX"] = os.path.join(folder, "pycache")
    return env


def run_sweep(path: str, base: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """One ``corpsim sweep`` command; its CPU (with its children), wall, server stats."""
    db = path[:-5] + ".db"
    if os.path.exists(db):
        os.remove(db)
    reset(base)
    exe = shutil.which("corpsim", path=os.path.dirname(sys.executable)) or "corpsim"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    out = subprocess.run([exe, "sweep", path, "--no-progress", "--no-report"],
                         capture_output=True, text=True, env=env)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"corpsim sweep failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    s = stats(base)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall, "calls": s["requests"],
            "first": (s["first"] or t0) - t0, "window": (s["last"] or t0) - (s["first"] or t0)}


def run_inspect(base: str, inflight: int, samples: int, folder: str) -> dict[str, float]:
    exe = shutil.which("inspect", path=os.path.dirname(sys.executable))
    reset(base)
    env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "stub-key"),
           "INSPECT_LOG_DIR": os.path.join(folder, "inspect-logs")}
    t0 = time.time()
    out = subprocess.run([exe, "eval", "inspect_evals/agentic_misalignment",
                          "--model", "openai/stub", "--model-base-url", base,
                          "-M", "responses_api=false",  # chat completions, like corpsim
                          "--epochs", str(samples), "--max-connections", str(inflight),
                          "--no-score", "--display", "none"],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-1500:])
    s = stats(base)
    return {"calls": s["requests"], "first": (s["first"] or t0) - t0,
            "window": (s["last"] or t0) - (s["first"] or t0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--inflight", default="16,64,256", help="comma-separated levels")
    ap.add_argument("--waves", type=int, default=4, help="episodes = waves * inflight")
    ap.add_argument("--repeat", type=int, default=3, help="runs per level (medians)")
    ap.add_argument("--transport", default="auto", choices=("auto", "direct", "litellm"))
    ap.add_argument("--inspect", action="store_true", help="also run Inspect AI's port")
    ap.add_argument("--processes", type=int, default=None,
                    help="concurrency.processes of the sweeps (default: the sweep decides)")
    args = ap.parse_args()
    levels = [int(x) for x in args.inflight.split(",")]
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    server, base = start_server(args.latency)
    folder = tempfile.mkdtemp(prefix="bench_http_")
    med = statistics.median
    rows = []
    try:
        env = sweep_env(folder)
        print(f"stub server {base}, latency {args.latency} s, {args.waves} waves, "
              f"transport {args.transport}, medians of {args.repeat}"
              + (", bytecode cached in the run's folder (PYTHONDONTWRITEBYTECODE is set)"
                 if "PYTHONPYCACHEPREFIX" in env and "PYTHONPYCACHEPREFIX" not in os.environ
                 else ""), flush=True)
        one = write_config(folder, base, 1, 1, args.transport)
        run_sweep(one, base, env)  # not measured: compiles and caches the bytecode
        base_runs = [run_sweep(one, base, env) for _ in range(args.repeat)]
        cpu0, calls0 = med(r["cpu"] for r in base_runs), med(r["calls"] for r in base_runs)
        print(f"one-episode sweep: {med(r['wall'] for r in base_runs):.2f} s wall, "
              f"{cpu0:.2f} s CPU, first request {med(r['first'] for r in base_runs):.2f} s "
              "after launch", flush=True)
        for n in levels:
            ideal = args.waves * 2 * args.latency
            alone = [plain_client(base, n, 2 * args.waves) for _ in range(args.repeat)]
            runs = [run_sweep(write_config(folder, base, n, n * args.waves, args.transport,
                                           args.processes), base, env)
                    for _ in range(args.repeat)]
            pct = med(100 * ideal / r["window"] for r in runs)
            cpu_call = med(1000 * (r["cpu"] - cpu0) / max(1, r["calls"] - calls0)
                           for r in runs)
            row = {"inflight": n, "server_alone_pct": 100 * ideal / med(alone),
                   "pct_of_ideal": pct, "cpu_ms_per_call": cpu_call,
                   "cpu_ms_per_call_total": med(1000 * r["cpu"] / r["calls"] for r in runs),
                   "first_request_s": med(r["first"] for r in runs),
                   "wall_s": med(r["wall"] for r in runs)}
            if args.inspect:
                try:
                    ins = [run_inspect(base, n, n * args.waves, folder)
                           for _ in range(args.repeat)]
                    row["inspect_pct_of_ideal"] = med(
                        100 * args.waves * args.latency / r["window"] for r in ins)
                    row["inspect_first_request_s"] = med(r["first"] for r in ins)
                except Exception as exc:  # optional: say why, keep the corpsim numbers
                    print(f"inspect failed: {str(exc).strip().splitlines()[-1:]}")
            rows.append(row)
            extra = (f", Inspect {row['inspect_pct_of_ideal']:.0f}% (first request "
                     f"{row['inspect_first_request_s']:.1f} s)"
                     if "inspect_pct_of_ideal" in row else "")
            print(f"{n:>4} in flight: server alone {row['server_alone_pct']:.0f}%, corpsim "
                  f"sweep {pct:.0f}% of ideal, {cpu_call:.2f} ms harness CPU per call "
                  f"(marginal; {row['cpu_ms_per_call_total']:.1f} ms all-in), first "
                  f"request {row['first_request_s']:.2f} s, command {row['wall_s']:.1f} s"
                  f"{extra}", flush=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
