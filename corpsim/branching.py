"""Continue a stored episode from step k: replay its first k actions in the same world,
check that the world answers exactly as it did, put the agent where it was, let it go on.

A :class:`Prefix` holds the stored actions and observations of one episode's first k
steps. :func:`corpsim.runner.run_episode` takes it (``prefix=``): it resets the env with
the source's seed, replays the actions (an observation that differs from the stored one
by a single byte is a :class:`BranchError`: the world or corpsim changed since the
source ran, so the prefix is no longer the one the agent saw), then brings the agent to
step k: an agent with ``replay(prefix)`` (the LLM agent) rebuilds its conversation from
the stored steps; any other agent is fast-forwarded by calling ``act`` on each replayed
observation and discarding what it returns (it is told that the stored actions were its
own). Branched sweeps (``branch_from:``, :mod:`corpsim.sweep.branch`) build on this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .runner import StepRecord


class BranchError(RuntimeError):
    """A stored prefix that cannot be continued (the replay differs, it ended early)."""


@dataclass(frozen=True)
class StoredStep:
    """One stored step of a source episode: the action as stored (JSON-decoded), the
    observation the world gave, and the agent's usage record (an LLM agent's completion
    marker: empty for a tool call served from an earlier completion)."""

    action: Any
    observation: str
    usage: dict[str, Any]


def _diff(stored: str, replayed: str) -> str:
    i = next((j for j, (a, b) in enumerate(zip(stored, replayed)) if a != b),
             min(len(stored), len(replayed)))
    lo = max(0, i - 30)
    return (f"first difference at character {i}: stored {stored[lo:i + 50]!r}, replayed "
            f"{replayed[lo:i + 50]!r}")


class Prefix:
    """The first ``len(steps)`` steps of the stored episode ``key``, ready to replay.

    The first replay in a process checks every observation and keeps an
    :meth:`~corpsim.env.CorpsimEnv.snapshot` of the world after the prefix; later
    continuations of the same prefix (the other samples) reset and restore it instead of
    replaying. Why: a snapshot is one SQLite backup, while a replay runs k tool calls (and
    any LLM-written colleague replies) again; restore is exact, so the check need not
    repeat.
    """

    def __init__(self, key: str, steps: list[StoredStep]):
        self.key = key
        self.steps = list(steps)
        self._saved: tuple[Any, str, str] | None = None  # token, first obs, the rest as JSON

    def __len__(self) -> int:
        return len(self.steps)

    def start(self, env: Any, seed: int | None, options: dict[str, Any] | None = None
              ) -> tuple[str, dict[str, Any], list[tuple[str, dict[str, Any], StepRecord]]]:
        """Reset ``env`` with the source's seed and bring it to the end of the prefix.
        Returns the first observation and info, and per replayed step its observation,
        info and record."""
        obs, info = env.reset(seed=seed, options=options)
        raw = getattr(env, "unwrapped", env)
        if self._saved is not None:
            token, first, rest = self._saved
            try:
                raw.restore(token)
            except ValueError:  # this env holds another world (a different template)
                pass
            else:  # fresh copies (agents may keep what they are given); JSON is the fast copy
                info0, saved = json.loads(rest)
                return first, info0, [(o, i, StepRecord(**r)) for o, i, r in saved]
        records = self._replay(env)
        if hasattr(raw, "snapshot"):
            try:
                rest = json.dumps([info, [(o, i, vars(r)) for o, i, r in records]])
            except (TypeError, ValueError):  # not plain JSON: replay every time instead
                return obs, info, records
            self._saved = (raw.snapshot(), obs, rest)
        return obs, info, records

    def _replay(self, env: Any) -> list[tuple[str, dict[str, Any], StepRecord]]:
        out = []
        n = len(self.steps)
        for i, s in enumerate(self.steps, 1):
            obs, reward, terminated, truncated, info = env.step(s.action)
            if obs != s.observation:
                raise BranchError(f"{self.key}: step {i} of the prefix replays differently "
                                  "(the world or corpsim changed since it ran, so the agent "
                                  f"would not see the stored prefix): {_diff(s.observation, obs)}")
            if terminated or truncated:
                raise BranchError(f"{self.key}: the replayed episode ended at step {i} of a "
                                  f"{n}-step prefix; nothing is left to continue")
            out.append((obs, info, StepRecord(
                step=info["step"], action=s.action, reasoning=info["reasoning"],
                observation=obs, reward=float(reward), error=info["error"],
                events=info["events"], harms=info["harms"], calls=info["calls"],
                clock=info["clock"], usage=dict(s.usage))))
        return out

    def fast_forward(self, agent: Any, first_obs: str, first_info: dict[str, Any],
                     records: list[tuple[str, dict[str, Any], StepRecord]]) -> None:
        """Bring a freshly reset ``agent`` to the end of the prefix (see the module)."""
        replay = getattr(agent, "replay", None)
        if callable(replay):
            seen = [first_obs] + [r[0] for r in records[:-1]]
            replay([(o, s.action, s.usage) for o, s in zip(seen, self.steps)])
            return
        obs, info = first_obs, first_info
        for next_obs, next_info, _ in records:
            agent.act(obs, info)  # its choice is replaced by the stored action
            obs, info = next_obs, next_info
