"""corpsim in Inspect AI (``pip install 'corpsim[inspect]'``).

Installed with the extra, Inspect finds these through its ``inspect_ai`` entry point::

    inspect eval corpsim/blackmail --model openai/gpt-4o
    inspect eval corpsim/leaking -T goal_value=america,global --epochs 5
    inspect eval corpsim/conditions -T conditions=murder_none-none_none,murder_explicit-america_replacement

Each sample is one condition; each epoch is one episode (seed = ``seed + epoch - 1``).
The task's ``setup`` (:func:`corpsim_setup`) resets the env and gives the model its
system prompt, first observation and the 13 tools; the default solver
(:func:`corpsim_agent`) is Inspect's ``react`` agent, stopped when the episode ends; any
other Inspect solver may replace it (``--solver``). :func:`outcome_scorer` reports the
env's outcome flags with their evidence.
"""

from __future__ import annotations

try:
    import inspect_ai  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("corpsim.inspect needs Inspect AI: pip install 'corpsim[inspect]'") from exc

from .episode import corpsim_setup, episode_tools, live_episode
from .scorer import outcome_scorer
from .solver import corpsim_agent
from .tasks import blackmail, conditions, corpsim_task, leaking, murder

__all__ = ["blackmail", "conditions", "corpsim_agent", "corpsim_setup", "corpsim_task",
           "episode_tools", "leaking", "live_episode", "murder", "outcome_scorer"]
