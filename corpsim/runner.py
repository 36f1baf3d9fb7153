"""Run one episode of an agent in an env and keep everything a later analysis needs."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    """The agent protocol: ``reset`` once per episode with the first observation and
    info (system prompt, tool schemas, roles...), then ``act`` once per step with the
    latest observation and info; ``act`` returns any action the env accepts."""

    name: str

    def reset(self, observation: str, info: dict[str, Any]) -> None: ...

    def act(self, observation: str, info: dict[str, Any]) -> Any: ...


@dataclass
class StepRecord:
    step: int
    action: Any
    reasoning: str | None
    observation: str
    reward: float
    error: str | None
    events: list[dict[str, Any]]
    harms: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    clock: str
    usage: dict[str, Any] = field(default_factory=dict)  # tokens, cost, latency (LLM agents)


@dataclass
class Episode:
    condition: dict[str, Any]
    agent: str
    seed: int | None
    steps: list[StepRecord]
    outcome: dict[str, Any]
    terminated: bool
    truncated: bool
    wall_seconds: float
    first_observation: str = ""
    status: str = "ok"  # ok | errored
    error: str | None = None
    agent_info: dict[str, Any] = field(default_factory=dict)

    @property
    def total_reward(self) -> float:
        return sum(s.reward for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_episode(env: Any, agent: Any, seed: int | None = None,
                reset_options: dict[str, Any] | None = None) -> Episode:
    """Reset ``env`` with ``seed`` and step ``agent`` until the episode ends.

    An exception raised by the agent ends the episode as ``status="errored"`` with the
    reason; it is never counted as a harmless episode.
    """
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed, options=reset_options)
    condition, first = info["condition"], obs
    if hasattr(agent, "reset"):
        agent.reset(obs, info)
    steps: list[StepRecord] = []
    terminated = truncated = False
    status, error = "ok", None
    outcome: dict[str, Any] = {}
    while not (terminated or truncated):
        try:
            action = agent.act(obs, info)
        except Exception as exc:  # an agent failure is data: record it, never "safe"
            status, error = "errored", f"{type(exc).__name__}: {exc}"
            break
        usage = getattr(agent, "last_usage", None) or {}
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append(StepRecord(step=info["step"], action=action, reasoning=info["reasoning"],
                                observation=obs, reward=float(reward), error=info["error"],
                                events=info["events"], harms=info["harms"], calls=info["calls"],
                                clock=info["clock"], usage=dict(usage)))
        if "outcome" in info:
            outcome = info["outcome"]
    return Episode(condition=condition, agent=getattr(agent, "name", type(agent).__name__),
                   seed=seed, steps=steps, outcome=outcome, terminated=terminated,
                   truncated=truncated, wall_seconds=time.perf_counter() - t0,
                   first_observation=first, status=status, error=error,
                   agent_info=dict(getattr(agent, "info", {}) or {}))


async def arun_episode(env: Any, agent: Any, seed: int | None = None,
                       reset_options: dict[str, Any] | None = None) -> Episode:
    """:func:`run_episode` for asyncio: awaits ``agent.aact`` where the agent has one
    (LLM agents call ``litellm.acompletion`` there), else calls ``agent.act``.

    Give each concurrent episode its own env and agent; ``env.step`` is synchronous and
    fast, so one event loop can keep hundreds of episodes in flight::

        episodes = await asyncio.gather(*(arun_episode(corpsim.make(cid), LLMAgent(m), seed=s)
                                          for s in range(100)))

    An exception raised by the agent ends the episode as ``status="errored"`` with the
    reason; cancellation (``asyncio.CancelledError``) propagates.
    """
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed, options=reset_options)
    condition, first = info["condition"], obs
    if hasattr(agent, "reset"):
        agent.reset(obs, info)
    aact = getattr(agent, "aact", None)
    steps: list[StepRecord] = []
    terminated = truncated = False
    status, error = "ok", None
    outcome: dict[str, Any] = {}
    while not (terminated or truncated):
        try:
            action = await aact(obs, info) if aact is not None else agent.act(obs, info)
        except Exception as exc:  # an agent failure is data: record it, never "safe"
            status, error = "errored", f"{type(exc).__name__}: {exc}"
            break
        usage = getattr(agent, "last_usage", None) or {}
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append(StepRecord(step=info["step"], action=action, reasoning=info["reasoning"],
                                observation=obs, reward=float(reward), error=info["error"],
                                events=info["events"], harms=info["harms"], calls=info["calls"],
                                clock=info["clock"], usage=dict(usage)))
        if "outcome" in info:
            outcome = info["outcome"]
    return Episode(condition=condition, agent=getattr(agent, "name", type(agent).__name__),
                   seed=seed, steps=steps, outcome=outcome, terminated=terminated,
                   truncated=truncated, wall_seconds=time.perf_counter() - t0,
                   first_observation=first, status=status, error=error,
                   agent_info=dict(getattr(agent, "info", {}) or {}))
