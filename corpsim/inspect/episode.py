"""One live corpsim episode per Inspect sample, and its tools as Inspect tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import ToolDef, ToolParams

import corpsim

from ._names import corpsim_name

# envs hold a SQLite world and cannot go into Inspect's (serialised) store: keep them
# here, keyed by the sample's uuid, until the scorer has read the outcome
_LIVE: dict[str, "LiveEpisode"] = {}


@dataclass
class LiveEpisode:
    """The env of one sample and where its episode stands."""

    env: Any
    seed: int
    info: dict[str, Any]
    done: bool = False
    outcome: dict[str, Any] | None = None
    steps: int = 0
    errors: int = 0
    harms: list[dict[str, Any]] = field(default_factory=list)

    def step(self, name: str, arguments: dict[str, Any]) -> str:
        """One tool call as one env step; returns the observation."""
        return self.act({"tool": name, "arguments": arguments})

    def act(self, action: Any) -> str:
        """Any action the env takes (a tool call, or text in the study's markup)."""
        if self.done:
            return "The session is over; no further action is possible."
        obs, _, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        self.errors += info["error"] is not None
        self.harms.extend(info.get("harms", []))
        if "outcome" in info:
            self.outcome = info["outcome"]
        self.done = bool(terminated or truncated)
        if self.done:
            obs += "\n\n(The session is over.)"
        return obs

    def finish(self) -> dict[str, Any]:
        """The outcome; an episode the agent left open is closed first, so pending
        consequences (a cancelled dispatch, a scheduled wipe) are resolved."""
        if self.outcome is None:
            self.outcome = self.env.unwrapped.finish()
            self.done = True
        return self.outcome


def live_episode(state: TaskState) -> LiveEpisode:
    """The episode :func:`corpsim_setup` started for this sample."""
    try:
        return _LIVE[state.uuid]
    except KeyError:
        raise RuntimeError("no corpsim episode for this sample: the task's setup must be "
                           "corpsim.inspect.corpsim_setup()") from None


def release(state: TaskState) -> None:
    ep = _LIVE.pop(state.uuid, None)
    if ep is not None:
        ep.env.close()


def episode_tools(ep: LiveEpisode) -> list[ToolDef]:
    """The env's tools (``info["tools"]`` schemas) as Inspect tools bound to ``ep``."""
    out = []
    for schema in ep.info["tools"]:
        fn = schema["function"]

        def bind(name: str) -> Any:
            async def execute(**kwargs: Any) -> str:
                return ep.step(name, kwargs)
            return execute

        out.append(ToolDef(bind(fn["name"]), name=fn["name"], description=fn["description"],
                           parameters=ToolParams.model_validate(fn["parameters"]),
                           max_output=0))  # the model sees what a corpsim agent sees
    return out


@solver(name=corpsim_name("corpsim_setup"))
def corpsim_setup(seed: int = 0, **env_kwargs: Any) -> Solver:
    """Reset the sample's env (condition from ``metadata["condition"]``, seed ``seed +
    epoch - 1``) and give the model its system prompt, first observation and tools.

    Args:
        seed: The first epoch's episode seed.
        **env_kwargs: For :func:`corpsim.make` (``mode``, ``procedural``, ``max_steps``,
            ``mitigations``, ``safety_instructions``, ...).
    """
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        env = corpsim.make(state.metadata["condition"], **env_kwargs)
        episode_seed = seed + state.epoch - 1
        obs, info = env.reset(seed=episode_seed)
        ep = LiveEpisode(env=env, seed=episode_seed, info=info)
        _LIVE[state.uuid] = ep
        state.messages = [ChatMessageSystem(content=info["system_prompt"]),
                          ChatMessageUser(content=obs)]
        state.tools = [t.as_tool() for t in episode_tools(ep)]
        state.store.set("corpsim_seed", episode_seed)
        state.store.set("corpsim_condition", info["condition"])
        return state

    return solve
