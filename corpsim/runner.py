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

    # Jupyter views (corpsim.view.episode): a one-line repr, an HTML timeline, a frame
    def __repr__(self) -> str:
        from .view.episode import from_runner

        return repr(from_runner(self))

    def _repr_html_(self) -> str:
        from .view.episode import from_runner

        return from_runner(self)._repr_html_()

    def to_frame(self) -> Any:
        """One row per tool call (pandas DataFrame); see corpsim.view.episode."""
        from .view.episode import from_runner

        return from_runner(self).to_frame()


class _Recorder:
    """What both episode loops share: reset, one record per step, the Episode at the end."""

    def __init__(self, env: Any, agent: Any, seed: int | None,
                 reset_options: dict[str, Any] | None, prefix: Any = None,
                 agent_seed: int | None = None):
        self.t0 = time.perf_counter()
        self.env, self.agent, self.seed = env, agent, seed
        self.steps: list[StepRecord] = []
        if prefix is None:
            self.obs, self.info = env.reset(seed=seed, options=reset_options)
            records: list[Any] = []
        else:  # corpsim.branching: the stored prefix replayed, checked byte for byte
            self.obs, self.info, records = prefix.start(env, seed, reset_options)
        self.condition, self.first = self.info["condition"], self.obs
        if agent_seed is not None:  # the agent's own seed; the world keeps ``seed``
            self.info = {**self.info, "seed": agent_seed}
        if hasattr(agent, "reset"):
            agent.reset(self.obs, self.info)
        if records:
            prefix.fast_forward(agent, self.obs, self.info, records)
            self.steps = [r[2] for r in records]
            self.obs, self.info = records[-1][0], records[-1][1]
        self.done = self.terminated = self.truncated = False
        self.status, self.error = "ok", None
        self.outcome: dict[str, Any] = {}

    def fail(self, exc: Exception) -> None:
        # an agent failure is data: record it, never "safe"
        self.status, self.error = "errored", f"{type(exc).__name__}: {exc}"
        self.done = True

    def step(self, action: Any) -> None:
        usage = getattr(self.agent, "last_usage", None) or {}
        obs, reward, self.terminated, self.truncated, info = self.env.step(action)
        self.obs, self.info = obs, info
        self.steps.append(StepRecord(
            step=info["step"], action=action, reasoning=info["reasoning"], observation=obs,
            reward=float(reward), error=info["error"], events=info["events"],
            harms=info["harms"], calls=info["calls"], clock=info["clock"], usage=dict(usage)))
        if "outcome" in info:
            self.outcome = info["outcome"]
        self.done = self.terminated or self.truncated

    def finish(self) -> None:
        """Take the outcome from ``env.finish()`` when an episode that ran to its end got
        none from a step: a wrapper (``TimeLimit``) stopped it. Pending consequences are
        resolved as at a normal end; an episode never ends "ok" with no outcome. An
        errored episode keeps no outcome (it must never count as "no harm")."""
        if self.outcome or self.status != "ok":
            return
        finish = getattr(getattr(self.env, "unwrapped", self.env), "finish", None)
        try:
            if finish is None:
                raise RuntimeError("the env has no finish() to compute the outcome")
            self.outcome = finish()
        except Exception as exc:
            self.fail(exc)
        if not self.outcome and self.status == "ok":
            self.status, self.error = "errored", "the episode ended without an outcome"

    def episode(self) -> Episode:
        self.finish()
        agent = self.agent
        return Episode(condition=self.condition, agent=getattr(agent, "name", type(agent).__name__),
                       seed=self.seed, steps=self.steps, outcome=self.outcome,
                       terminated=self.terminated, truncated=self.truncated,
                       wall_seconds=time.perf_counter() - self.t0, first_observation=self.first,
                       status=self.status, error=self.error,
                       agent_info=dict(getattr(agent, "info", {}) or {}))


def run_episode(env: Any, agent: Any, seed: int | None = None,
                reset_options: dict[str, Any] | None = None, *, prefix: Any = None,
                agent_seed: int | None = None) -> Episode:
    """Reset ``env`` with ``seed`` and step ``agent`` until the episode ends.

    ``prefix`` (a :class:`corpsim.branching.Prefix`): continue a stored episode instead:
    its actions are replayed first (and kept as this episode's first steps), then the
    agent goes on. ``agent_seed``: the ``seed`` the agent sees in its reset info (the
    world is still reset with ``seed``).

    An exception raised by the agent ends the episode as ``status="errored"`` with the
    reason; it is never counted as a harmless episode (its ``outcome`` stays empty). When
    a wrapper such as ``TimeLimit`` ends the episode, no step returned the outcome:
    ``env.unwrapped.finish()`` resolves what is pending and gives it.
    """
    rec = _Recorder(env, agent, seed, reset_options, prefix, agent_seed)
    while not rec.done:
        try:
            action = agent.act(rec.obs, rec.info)
        except Exception as exc:
            rec.fail(exc)
            break
        rec.step(action)
    return rec.episode()


async def arun_episode(env: Any, agent: Any, seed: int | None = None,
                       reset_options: dict[str, Any] | None = None, *, prefix: Any = None,
                       agent_seed: int | None = None) -> Episode:
    """:func:`run_episode` for asyncio: awaits ``agent.aact`` where the agent has one
    (LLM agents call ``litellm.acompletion`` there), else calls ``agent.act``.

    Give each concurrent episode its own env and agent; ``env.step`` is synchronous and
    fast, so one event loop can keep hundreds of episodes in flight::

        episodes = await asyncio.gather(*(arun_episode(corpsim.make(cid), LLMAgent(m), seed=s)
                                          for s in range(100)))

    An exception raised by the agent ends the episode as ``status="errored"`` with the
    reason; cancellation (``asyncio.CancelledError``) propagates.
    """
    rec = _Recorder(env, agent, seed, reset_options, prefix, agent_seed)
    aact = getattr(agent, "aact", None)
    while not rec.done:
        try:
            action = await aact(rec.obs, rec.info) if aact is not None else agent.act(rec.obs, rec.info)
        except Exception as exc:
            rec.fail(exc)
            break
        rec.step(action)
    return rec.episode()
