"""Run planned episodes and turn them into store rows.

Used in the sweep's own process (LLM agents, asyncio), in its process pool (scripted
agents) and in Ray tasks; kept free of rich/typer so workers start fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
from datetime import timedelta
from typing import Any, AsyncContextManager, Callable, Optional

from ..outcomes.judge import stored_verdicts
from ..secrets import scrub_settings, scrub_text
from .plan import npc_kwargs
from .rows import CONSEQUENCES, OUTCOMES, Finished, safe_text, utcnow

_WORKER = f"{socket.gethostname()}:{os.getpid()}"


class RunContext(dict):  # plain dict so it pickles anywhere (process pool, Ray)
    """Sweep-wide settings a worker needs: ``env`` (env kwargs), ``judge``,
    ``episode_timeout``, ``retries``, ``backoff``."""


def context_from_config(cfg: Any) -> RunContext:
    from .config import judge_env_kwargs

    env = {**cfg.env, **judge_env_kwargs(cfg)}
    ctx = RunContext(env=env, episode_timeout=cfg.timeouts.episode,
                     retries=cfg.retries.attempts, backoff=cfg.retries.backoff)
    if getattr(cfg, "branch_from", None) is not None:  # the sources' env settings
        from .branch import env_context

        ctx.update(env_context(cfg))
    if cfg.outcome_judge is not None:
        ctx["outcome_judge"] = cfg.outcome_judge.model_dump()  # extra keys included
    return ctx


def add_judge_verdicts(ep: Any, env: Any, ctx: dict[str, Any]) -> None:
    """With ``outcome_judge`` in the sweep: add the judge's verdicts to a finished
    episode's outcome (stored beside the rule verdicts)."""
    spec = ctx.get("outcome_judge")
    if spec and ep.status == "ok" and ep.outcome:
        from corpsim.outcomes.judge import JudgeConfig, judge_episode

        judge_episode(ep.outcome, ep.steps, env.roles, JudgeConfig.from_spec(spec))


class _CaptureEnv:
    """Wraps an env to keep the reset info (the system prompt) for the prompts table."""

    def __init__(self, env: Any):
        self._env = env
        self.system_prompt = ""
        self.roles: dict[str, Any] = {}

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        obs, info = self._env.reset(*args, **kwargs)
        self.system_prompt = info.get("system_prompt", "")
        self.roles = info.get("roles", {})
        return obs, info

    def step(self, action: Any) -> Any:
        return self._env.step(action)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)


def _env_key(p: Any, ctx: dict[str, Any]) -> tuple[Any, ...]:
    return (p.condition, p.mode, p.procedural, p.realism, p.inbox_size, p.tells, p.npcs,
            p.reaction_probs, p.npc_model, p.npc_characters, p.npc_cache,
            json.dumps([p.npc_kwargs, ctx.get("env", {})], sort_keys=True, default=str))


# Envs are reused across episodes of the same cell in a process: ``reset`` restores the
# world from its template, and creating and closing an env's in-memory database costs
# more than a whole single-turn episode's steps.
_ENV_POOL: dict[tuple[Any, ...], list[Any]] = {}
_ENV_POOL_MAX = 1024
_env_pool_size = 0


def make_env(p: Any, ctx: dict[str, Any]) -> _CaptureEnv:
    """An env for ``p`` (from this process's pool when one is free)."""
    global _env_pool_size
    free = _ENV_POOL.get(_env_key(p, ctx))
    if free:
        _env_pool_size -= 1
        return _CaptureEnv(free.pop())
    from corpsim.env import CorpsimEnv

    env = CorpsimEnv(condition=p.condition, mode=p.mode, procedural=p.procedural,
                     **p.world_kwargs, **npc_kwargs(p), **ctx.get("env", {}))
    return _CaptureEnv(env)


def release_env(p: Any, ctx: dict[str, Any], env: _CaptureEnv) -> None:
    """Give an env back after a finished episode (closed if the pool is full)."""
    global _env_pool_size
    raw = env._env
    if _env_pool_size >= _ENV_POOL_MAX:
        raw.close()
        return
    _ENV_POOL.setdefault(_env_key(p, ctx), []).append(raw)
    _env_pool_size += 1


def make_scripted_agent(p: Any) -> Any:
    from corpsim.agents import make_agent

    if ":" in p.spec:
        from .config import resolve_factory

        return resolve_factory(p.spec)(**p.settings_dict)
    return make_agent(p.spec, **p.settings_dict)


def _dumps(x: Any) -> str:
    return safe_text(json.dumps(x, default=str, ensure_ascii=False))


def _text(x: Optional[str]) -> Optional[str]:
    return None if x is None else safe_text(x if isinstance(x, str) else str(x))


def _error(x: Optional[str]) -> Optional[str]:
    """An error as stored: credentials scrubbed, database-safe."""
    return None if x is None else safe_text(scrub_text(x))


def _num(d: dict[str, Any], *names: str) -> Optional[float]:
    for n in names:
        v = d.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def usage_totals(steps: list[Any], agent_info: dict[str, Any]) -> dict[str, Any]:
    """Tokens, cost and model time of an episode: the agent's own running totals
    (``info``: ``prompt_tokens``, ``completion_tokens``, ``cost_usd``, ``latency_s``)
    when it keeps them, else the sum of the steps' usage records. Cost is None when
    the agent says it is unknown (a model litellm's cost map does not price)."""
    names = {"prompt_tokens": ("prompt_tokens", "input_tokens"),
             "completion_tokens": ("completion_tokens", "output_tokens"),
             "total_tokens": ("total_tokens",),
             "cost_usd": ("cost_usd", "cost", "response_cost"),
             "model_seconds": ("latency_s", "latency", "model_seconds")}
    tot: dict[str, Optional[float]] = {k: None for k in names}
    if any(_num(agent_info, *names[k]) is not None for k in ("prompt_tokens", "model_seconds")):
        for col, keys in names.items():
            tot[col] = _num(agent_info, *keys)
        if agent_info.get("cost_known") is False:
            tot["cost_usd"] = None
    else:
        for s in steps:
            u = getattr(s, "usage", None) or {}
            for col, keys in names.items():
                v = _num(u, *keys)
                if v is not None:
                    tot[col] = (tot[col] or 0.0) + v
    if tot["total_tokens"] is None and (tot["prompt_tokens"] is not None
                                        or tot["completion_tokens"] is not None):
        tot["total_tokens"] = (tot["prompt_tokens"] or 0) + (tot["completion_tokens"] or 0)
    out: dict[str, Any] = dict(tot)
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if out[k] is not None:
            out[k] = int(out[k])
    return out


def _is_empty(action: Any) -> bool:
    if action is None:
        return True
    if isinstance(action, str):
        return not action.strip()
    if isinstance(action, (list, dict)):
        return len(action) == 0
    return False


_SHA_CACHE: dict[tuple[int, int], tuple[str, str, str]] = {}


def _prompt_sha(system_prompt: str, first: str) -> str:
    """SHA-256 of a prompt pair, cached (string hashing and comparison are far cheaper
    than SHA-256 of a 30 kB single-turn prompt)."""
    k = (hash(system_prompt), hash(first))
    hit = _SHA_CACHE.get(k)
    if hit is not None and hit[2] == first and hit[1] == system_prompt:
        return hit[0]
    sha = hashlib.sha256(system_prompt.encode() + b"\0" + first.encode()).hexdigest()
    if len(_SHA_CACHE) >= 512:
        _SHA_CACHE.clear()
    _SHA_CACHE[k] = (sha, system_prompt, first)
    return sha


def _consequences(outcome: dict[str, Any]) -> dict[str, Any]:
    """The consequence columns from an outcome (all None without one)."""
    cons = outcome.get("consequences") if outcome else None
    if not cons:
        return {**{c: None for c in CONSEQUENCES}, "escalations": None}
    return {**{c: bool(cons.get(c)) for c in CONSEQUENCES},
            "escalations": _dumps(list(cons.get("escalations") or []))}


def finished_from_episode(p: Any, ep: Any, *, attempts: int, started: Any, wall: float,
                          system_prompt: str = "") -> Finished:
    """The store rows for a run episode (``ep``: a :class:`corpsim.runner.Episode`)."""
    status = ep.status if ep.status in ("ok", "errored") else "errored"
    if status == "ok" and (not ep.steps or all(_is_empty(s.action) for s in ep.steps)):
        status = "empty"
    outcome = ep.outcome or {}
    if outcome:
        flags = {h: bool(outcome.get(h)) for h in OUTCOMES}
        att = outcome.get("attempted") or {}
        attempted = {h: bool(att.get(h, flags[h])) for h in OUTCOMES}
    else:  # errored before the end: what happened before the error (rates ignore it)
        found = [h for s in ep.steps for h in (s.harms or [])]
        flags = {h: any(f["harm"] == h and f.get("realised") for f in found) for h in OUTCOMES}
        flags["harmful"] = any(flags[h] for h in OUTCOMES[:-1])
        attempted = {h: any(f["harm"] == h for f in found) for h in OUTCOMES}
        attempted["harmful"] = any(attempted[h] for h in OUTCOMES[:-1])
    agent_info = dict(ep.agent_info or {})
    first = safe_text(ep.first_observation or "")
    system_prompt = safe_text(system_prompt)
    prompt = None
    if first or system_prompt:
        sha = _prompt_sha(system_prompt, first)
        prompt = (sha, system_prompt, first)
    fields: dict[str, Any] = {
        "status": status, "attempts": attempts,
        **flags, **{f"attempted_{h}": v for h, v in attempted.items()},
        "n_steps": len(ep.steps), "terminated": bool(ep.terminated),
        "truncated": bool(ep.truncated), "total_reward": float(sum(s.reward for s in ep.steps)),
        **usage_totals(ep.steps, agent_info),
        "wall_seconds": wall, "started_at": started,
        "finished_at": started + timedelta(seconds=wall),
        "error": _error(ep.error) if status == "errored" else None,
        "outcome_events": _dumps(outcome.get("events", [])) if outcome else None,
        "agent_info": _error(_dumps(scrub_settings(agent_info))) if agent_info else None,
        "prompt_id": prompt[0] if prompt else None, "worker": _WORKER,
        **stored_verdicts(outcome.get("judge")),
        **_consequences(outcome),
    }
    steps = [{
        "episode_key": p.key, "sweep_id": p.sweep_id, "step": int(s.step),
        "action": _dumps(s.action), "reasoning": _text(s.reasoning),
        "observation": _text(s.observation), "events": _dumps(s.events),
        "harms": _dumps(s.harms), "calls": _dumps(s.calls), "error": _error(s.error),
        "reward": float(s.reward), "clock": s.clock,
        "usage": _dumps(s.usage or {}),
    } for s in ep.steps]
    return Finished(p.key, fields, steps, prompt)


def finished_from_error(p: Any, error: str, *, attempts: int, started: Any,
                        wall: float) -> Finished:
    """An episode that could not run at all (env or agent construction failed, timeout)."""
    fields: dict[str, Any] = {
        "status": "errored", "attempts": attempts, "n_steps": 0, "wall_seconds": wall,
        "started_at": started, "finished_at": started + timedelta(seconds=wall),
        "error": _error(error), "worker": _WORKER}
    return Finished(p.key, fields, [], None)


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:2000] if msg else type(exc).__name__


def warm_up(episodes: list[Any], llm: bool = False) -> None:
    """Import what episodes need and build each cell's world once (a worker process's
    first episodes would otherwise pay for it)."""
    import corpsim.env  # noqa: F401
    import corpsim.runner  # noqa: F401

    if llm:
        try:
            from corpsim.agents import llm as _llm

            specs = {p.agent: p for p in episodes if p.kind == "llm"}.values()
            direct = [not _llm.uses_litellm(p.spec, **p.settings_dict) for p in specs]
            if not all(direct):
                _llm._litellm()
            if any(direct):  # the direct transport's HTTP client
                import aiohttp  # noqa: F401
        except Exception:  # reported by the episodes themselves
            pass
    from corpsim.env import _template
    from corpsim.realism import resolve

    seen: set[Any] = set()
    for p in episodes:
        k = (p.condition, p.mode, p.procedural, p.realism, p.inbox_size, p.tells)
        if k not in seen and not p.procedural:
            seen.add(k)
            try:
                _template(p.condition, p.mode, p.procedural, 0, resolve(**p.world_kwargs))
            except Exception:  # reported by the episodes themselves
                pass


def branch_kwargs(p: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """``run_episode``'s ``prefix``/``agent_seed`` for a continuation of a branched
    sweep (the stored prefix read from the source database), else nothing."""
    if getattr(p, "branch_source", None) is None:
        return {}
    from .branch import load_prefix

    return {"prefix": load_prefix(ctx["branch_db"], p.branch_source, int(p.branch_step)),
            "agent_seed": p.agent_seed}


# ---------------------------------------------------------------------- scripted (sync)
def run_scripted(p: Any, ctx: dict[str, Any]) -> Finished:
    """One scripted-agent episode, synchronously. Never raises for an episode's own
    failure: that is recorded as ``errored``."""
    from corpsim.runner import run_episode

    started, t0 = utcnow(), time.perf_counter()
    try:
        env = make_env(p, ctx)
        agent = make_scripted_agent(p)
        ep = run_episode(env, agent, seed=p.seed, **branch_kwargs(p, ctx))
        add_judge_verdicts(ep, env, ctx)
        release_env(p, ctx, env)
        return finished_from_episode(p, ep, attempts=1, started=started,
                                     wall=time.perf_counter() - t0,
                                     system_prompt=env.system_prompt)
    except Exception as exc:  # a harness or world failure is data too
        return finished_from_error(p, _describe(exc), attempts=1, started=started,
                                   wall=time.perf_counter() - t0)


def run_scripted_chunk(chunk: list[Any], ctx: dict[str, Any]) -> list[Finished]:
    """A process-pool task: several scripted episodes in a row."""
    return [run_scripted(p, ctx) for p in chunk]


def init_pool_worker(parent: Optional[int] = None) -> None:
    """Process-pool initializer: Ctrl-C is the parent's to handle, and a worker dies with
    its parent (``kill -9``, even while the worker was still starting) instead of
    lingering as an orphan; its unfinished episodes were never stored, so the rerun does
    them. ``parent``: the pid of the process that started the worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent if parent is not None else os.getppid())


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` ends: the kernel's parent-death signal on Linux
    (``PR_SET_PDEATHSIG``), and a thread watching the parent pid everywhere. Exits at
    once if the parent is gone already (it died while this process was starting)."""
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - no libc: the watch thread still works
            pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="corpsim-parent-watch", daemon=True).start()


# ---------------------------------------------------------------------- LLM (async)
def make_llm(p: Any) -> Any:
    from corpsim.agents.llm import make_llm_agent

    return make_llm_agent(p.spec, mode=p.mode, **p.settings_dict)


async def run_llm(p: Any, ctx: dict[str, Any],
                  slot: Optional[Callable[[Any], AsyncContextManager[Any]]] = None,
                  agent_factory: Optional[Callable[[Any], Any]] = None) -> Finished:
    """One LLM episode through ``corpsim.runner.arun_episode``, holding ``slot(p)`` (the
    concurrency limits) while it runs; an errored attempt is retried ``ctx['retries']``
    times with exponential backoff, outside the slot."""
    return (await run_llm_deferred(p, ctx, slot, agent_factory))()


async def run_llm_deferred(p: Any, ctx: dict[str, Any],
                           slot: Optional[Callable[[Any], AsyncContextManager[Any]]] = None,
                           agent_factory: Optional[Callable[[Any], Any]] = None
                           ) -> Callable[[], Finished]:
    """:func:`run_llm`, returning a function that builds the episode's store rows, so
    the caller can start its next episode (send that request) first: building the rows
    (JSON of every step) is not on the path from a response to the next request."""
    from corpsim.runner import arun_episode

    from ..retry import Backoff

    retries = int(ctx.get("retries", 0) or 0)
    backoff = Backoff(float(ctx.get("backoff", 1.0) or 0.0), cap=None, jitter=False)
    timeout = ctx.get("episode_timeout")
    factory = agent_factory or make_llm
    attempt = 0
    while True:
        attempt += 1
        started, t0 = utcnow(), time.perf_counter()
        result: Optional[Finished] = None
        try:
            env = make_env(p, ctx)
            agent = factory(p)
            branch = branch_kwargs(p, ctx)
            if slot is None:
                ep = await asyncio.wait_for(arun_episode(env, agent, seed=p.seed, **branch),
                                            timeout)
            else:
                async with slot(p):
                    t0 = time.perf_counter()
                    started = utcnow()
                    ep = await asyncio.wait_for(arun_episode(env, agent, seed=p.seed,
                                                             **branch), timeout)
            if ctx.get("outcome_judge"):  # blocking litellm calls: off the event loop
                await asyncio.to_thread(add_judge_verdicts, ep, env, ctx)
            system_prompt = env.system_prompt
            release_env(p, ctx, env)  # the episode holds nothing the env changes later
            if ep.status == "ok" or attempt > retries:
                return _rows_later(p, ep, attempt, started, time.perf_counter() - t0,
                                   system_prompt)
        except asyncio.TimeoutError:
            result = finished_from_error(p, f"timeout: the episode took more than {timeout} s",
                                         attempts=attempt, started=started,
                                         wall=time.perf_counter() - t0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = finished_from_error(p, _describe(exc), attempts=attempt, started=started,
                                         wall=time.perf_counter() - t0)
        if result is not None and attempt > retries:
            return lambda: result  # type: ignore[return-value]
        await asyncio.sleep(backoff.delay(attempt - 1))


def _rows_later(p: Any, ep: Any, attempt: int, started: Any, wall: float,
                system_prompt: str) -> Callable[[], Finished]:
    def rows() -> Finished:
        try:
            return finished_from_episode(p, ep, attempts=attempt, started=started, wall=wall,
                                         system_prompt=system_prompt)
        except Exception as exc:  # recorded, never lost
            return finished_from_error(p, _describe(exc), attempts=attempt, started=started,
                                       wall=wall)
    return rows
