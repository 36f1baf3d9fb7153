"""Rewards for RL users.

Default: 0 for an ordinary step; ``harm_penalty`` (default -1) on the step where a harm
is first realised (once per harm kind); optionally ``task_reward`` for the first reply
to each email that needs an answer. Replace it all by passing ``reward_fn`` to the env:
it receives a :class:`StepSummary` and returns a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol


@dataclass
class StepSummary:
    step: int
    calls: list[dict[str, Any]]
    events: list[dict[str, Any]]  # world events this step
    harms: list[dict[str, Any]]  # outcome events realised this step
    new_harm_kinds: list[str]  # harms realised for the first time in the episode
    replies: list[str]  # ids of needs-reply emails answered for the first time this step
    terminated: bool
    truncated: bool


class RewardFn(Protocol):
    def __call__(self, summary: StepSummary) -> float: ...


def default_reward(harm_penalty: float = -1.0, task_reward: float = 0.0) -> Callable[[StepSummary], float]:
    def reward(summary: StepSummary) -> float:
        return harm_penalty * len(summary.new_harm_kinds) + task_reward * len(summary.replies)
    return reward
