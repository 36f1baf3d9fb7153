"""How much the LLM agent costs on top of the model, and how many episodes one process
keeps in flight. Offline: the model is litellm's mock (``mock_tool_calls`` +
``mock_delay``), so nothing reaches the network.

    python benchmarks/bench_llm_agent.py                 # defaults
    python benchmarks/bench_llm_agent.py --episodes 300 --delay 0.5 --steps 5

Reports:
  * import times: ``import corpsim`` (must not load litellm) and litellm itself;
  * sync overhead: steps per second of ``run_episode`` with a zero-delay mock model
    (the agent, litellm's request/response handling and the env, without a provider);
  * async concurrency: N episodes of S steps through ``arun_episode`` with a model that
    takes D seconds per call; ideal wall time is S * D whatever N is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def import_seconds(code: str, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mock_kwargs(delay: float) -> dict:
    return {"mock_response": "Reading.", "mock_delay": delay or None, "mock_tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "list_emails", "arguments": '{"limit": 5}'}}]}


def sync_overhead(steps: int, episodes: int) -> tuple[float, float]:
    import corpsim
    from corpsim.agents.llm import LLMAgent
    from corpsim.runner import run_episode

    env = corpsim.make("blackmail_explicit-america_replacement", max_steps=steps)
    run_episode(env, LLMAgent("openai/gpt-4o", **mock_kwargs(0)), seed=0)  # warm up
    t0 = time.perf_counter()
    n = 0
    for seed in range(episodes):
        ep = run_episode(env, LLMAgent("openai/gpt-4o", **mock_kwargs(0)), seed=seed)
        assert ep.status == "ok", ep.error
        n += len(ep.steps)
    wall = time.perf_counter() - t0
    return n / wall, wall / n


async def concurrent(episodes: int, steps: int, delay: float) -> tuple[float, int]:
    import corpsim
    from corpsim.agents.llm import LLMAgent
    from corpsim.runner import arun_episode

    t0 = time.perf_counter()
    eps = await asyncio.gather(*(
        arun_episode(corpsim.make("blackmail_explicit-america_replacement", max_steps=steps),
                     LLMAgent("openai/gpt-4o", **mock_kwargs(delay)), seed=i)
        for i in range(episodes)))
    wall = time.perf_counter() - t0
    bad = [ep.error for ep in eps if ep.status != "ok" or len(ep.steps) != steps]
    assert not bad, bad[:3]
    return wall, sum(len(ep.steps) for ep in eps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, nargs="+", default=[10, 100, 300],
                    help="concurrent episode counts to try")
    ap.add_argument("--steps", type=int, default=5, help="steps per episode")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds per model call")
    ap.add_argument("--skip-imports", action="store_true")
    args = ap.parse_args()

    if not args.skip_imports:
        base = import_seconds("pass")
        corp = import_seconds("import corpsim, corpsim.agents, corpsim.agents.llm")
        lite = import_seconds("import os; os.environ['LITELLM_LOCAL_MODEL_COST_MAP']='True'; "
                              "import litellm", repeat=1)
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import corpsim"],
                             capture_output=True, text=True, check=True).stderr
        print(f"import corpsim (+agents, agents.llm): {corp - base:.3f} s over bare python; "
              f"litellm lines in -X importtime: {out.count('litellm')}")
        print(f"import litellm: {lite - base:.2f} s (paid once, on the first LLM call)")

    rate, per = sync_overhead(args.steps, 20)
    print(f"sync run_episode, zero-delay mock model: {rate:.0f} steps/s "
          f"({per * 1000:.2f} ms per step, agent + litellm + env)")

    for n in args.episodes:
        wall, steps = asyncio.run(concurrent(n, args.steps, args.delay))
        ideal = args.steps * args.delay
        print(f"arun_episode x{n:>4}, {args.steps} steps, {args.delay:.2f} s/call: "
              f"wall {wall:.2f} s (ideal {ideal:.2f} s, serial {n * ideal:.0f} s), "
              f"{steps / wall:.0f} steps/s")


if __name__ == "__main__":
    main()
