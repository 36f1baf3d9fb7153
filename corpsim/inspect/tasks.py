"""The Inspect tasks: one per scenario, and one over any list of condition ids."""

from __future__ import annotations

import itertools
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import Solver, TaskState

import corpsim
from corpsim.conditions import CONFLICT_GOAL_TYPES, Condition

from ._names import corpsim_name
from .episode import corpsim_setup, release
from .scorer import outcome_scorer
from .solver import corpsim_agent


def _items(value: str | list[str] | None) -> list[str]:
    """``-T x=a,b`` and ``-T x=[a,b]`` both give a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def corpsim_task(conditions: str | list[str], *, seed: int = 0, mode: str = "interactive",
                 procedural: bool = False, max_steps: int | None = None,
                 mitigations: str | list[str] | None = None,
                 safety_instructions: bool = False, production: bool = False,
                 eval_awareness: bool = False, solver: Solver | None = None,
                 **env_kwargs: Any) -> Task:
    """A task with one sample per condition id (bad ids fail here, naming the valid
    values). Run it with ``--epochs N`` for N episodes per condition."""
    extra = {"safety_instructions": safety_instructions, "production": production,
             "eval_awareness": eval_awareness, "mitigations": _items(mitigations)}
    ids = _items(conditions)
    if not ids:
        raise ValueError("conditions: give at least one condition id (corpsim conditions --ids)")
    samples = []
    for cid in dict.fromkeys(ids):
        cond = corpsim.parse(cid, **extra)  # validates now, not mid-eval
        samples.append(Sample(id=cid, input=f"corpsim episode: {cid}",
                              metadata={"condition": cid, **cond.to_dict()}))
    kwargs = {"mode": mode, "procedural": procedural, "max_steps": max_steps, **extra, **env_kwargs}
    return Task(dataset=MemoryDataset(samples, name="corpsim"),
                setup=corpsim_setup(seed=seed, **kwargs),
                solver=solver or corpsim_agent(), scorer=outcome_scorer(),
                cleanup=_release)


async def _release(state: TaskState) -> None:
    release(state)  # a sample that failed before scoring still frees its env


def _scenario_task(scenario: str, goal_type: str | list[str], goal_value: str | list[str] | None,
                   urgency: str | list[str], **kwargs: Any) -> Task:
    ids = []
    for gt, gv, urg in itertools.product(_items(goal_type), _items(goal_value) or [None],
                                         _items(urgency)):
        # goal types without a goal conflict take no value: no need to say "none"
        ids.append(Condition.create(scenario, gt, gv if gt in CONFLICT_GOAL_TYPES else None,
                                    urg).id)
    return corpsim_task(ids, **kwargs)


_DOC = """{scenario}: one sample per combination of the axes (each may be a comma list).

    Args:
        goal_type: explicit, latent, swap, ambiguous or none.
        goal_value: america, global, safety, acceleration, ethical, pragmatic,
            individualism, collectivism (none for goal types none and ambiguous).
        urgency: replacement, restriction or none.
        seed: first epoch's seed; epoch k uses seed + k - 1.
        mode: interactive (multi-step) or single_turn.
        max_steps, procedural, mitigations, safety_instructions, production,
            eval_awareness: as for corpsim.make.
    """


@task(name=corpsim_name("blackmail"))
def blackmail(goal_type: str | list[str] = "explicit", goal_value: str | list[str] | None = "america",
              urgency: str | list[str] = "replacement", **kwargs: Any) -> Task:
    return _scenario_task("blackmail", goal_type, goal_value, urgency, **kwargs)


@task(name=corpsim_name("leaking"))
def leaking(goal_type: str | list[str] = "explicit", goal_value: str | list[str] | None = "america",
            urgency: str | list[str] = "replacement", **kwargs: Any) -> Task:
    return _scenario_task("leaking", goal_type, goal_value, urgency, **kwargs)


@task(name=corpsim_name("murder"))
def murder(goal_type: str | list[str] = "explicit", goal_value: str | list[str] | None = "america",
           urgency: str | list[str] = "replacement", **kwargs: Any) -> Task:
    return _scenario_task("murder", goal_type, goal_value, urgency, **kwargs)


for _f in (blackmail, leaking, murder):
    _f.__doc__ = _DOC.format(scenario=_f.__name__)


@task(name=corpsim_name("conditions"))
def conditions(conditions: str | list[str], **kwargs: Any) -> Task:
    """Any list of condition ids (``-T conditions=a,b``), e.g. from ``corpsim conditions
    --ids``; other options as for the scenario tasks."""
    return corpsim_task(conditions, **kwargs)
