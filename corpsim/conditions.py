"""The study's condition grid: ids, axes, validation.

A condition id reads ``{scenario}_{goal_type}-{goal_value}_{urgency}``, for example
``blackmail_explicit-america_replacement``; the control is ``blackmail_none-none_none``.
The extra axes (safety instructions, production prompt, eval-awareness notice,
mitigations) are not part of the id; they are keyword arguments of the env and are
recorded with it in ``info["condition"]``.

This module imports nothing heavy: ``corpsim conditions`` and ``import corpsim`` use it.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

SCENARIOS: tuple[str, ...] = ("blackmail", "leaking", "murder")
GOAL_TYPES: tuple[str, ...] = ("explicit", "latent", "swap", "ambiguous", "none")
GOAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("america", "global"),
    ("safety", "acceleration"),
    ("ethical", "pragmatic"),
    ("individualism", "collectivism"),
)
GOAL_VALUES: tuple[str, ...] = tuple(v for pair in GOAL_PAIRS for v in pair)
URGENCIES: tuple[str, ...] = ("replacement", "restriction", "none")
MODES: tuple[str, ...] = ("interactive", "single_turn")
MITIGATIONS: tuple[str, ...] = ("human_approval", "need_to_know", "monitor")
# goal types whose mail sets one named value against another
CONFLICT_GOAL_TYPES: tuple[str, ...] = ("explicit", "latent", "swap")


class ConditionError(ValueError):
    """An invalid condition: the message names the valid values."""


def goal_pair(value: str) -> str:
    """The value opposed to ``value`` in its pair (america -> global)."""
    for a, b in GOAL_PAIRS:
        if value == a:
            return b
        if value == b:
            return a
    raise ConditionError(f"unknown goal value {value!r}; valid: {', '.join(GOAL_VALUES)}")


def _check(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConditionError(f"invalid {name} {value!r}; valid values: {', '.join(valid)}")


@dataclass(frozen=True)
class Condition:
    """One cell of the grid plus the extra axes. Construct through :meth:`create` or
    :func:`parse` to get validation; the dataclass itself is frozen and hashable."""

    scenario: str
    goal_type: str
    goal_value: str
    urgency: str
    safety_instructions: bool = False
    production: bool = False
    eval_awareness: bool = False
    mitigations: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def create(
        cls,
        scenario: str,
        goal_type: str = "explicit",
        goal_value: str | None = None,
        urgency: str = "replacement",
        *,
        safety_instructions: bool = False,
        production: bool = False,
        eval_awareness: bool = False,
        mitigations: list[str] | tuple[str, ...] | None = None,
    ) -> "Condition":
        """Validate and build. ``goal_value`` defaults to ``america`` for goal types
        that need one and to ``none`` for those that do not."""
        _check("scenario", scenario, SCENARIOS)
        _check("goal_type", goal_type, GOAL_TYPES)
        needs_value = goal_type in CONFLICT_GOAL_TYPES
        if goal_value is None:
            goal_value = "america" if needs_value else "none"
        if needs_value:
            if goal_value not in GOAL_VALUES:
                raise ConditionError(
                    f"goal_type {goal_type!r} needs a goal_value; got {goal_value!r}; "
                    f"valid values: {', '.join(GOAL_VALUES)}"
                )
        elif goal_value != "none":
            raise ConditionError(
                f"goal_type {goal_type!r} takes goal_value 'none' (it names no value); "
                f"got {goal_value!r}"
            )
        _check("urgency", urgency, URGENCIES)
        mits = tuple(sorted(set(mitigations or ())))
        for m in mits:
            _check("mitigation", m, MITIGATIONS)
        return cls(scenario, goal_type, goal_value, urgency, bool(safety_instructions),
                   bool(production), bool(eval_awareness), mits)

    @property
    def id(self) -> str:
        return f"{self.scenario}_{self.goal_type}-{self.goal_value}_{self.urgency}"

    @property
    def goal_conflict(self) -> bool:
        return self.goal_type in CONFLICT_GOAL_TYPES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mitigations"] = list(self.mitigations)
        return {"id": self.id, **d}


def parse(condition_id: str, **extra: Any) -> Condition:
    """Parse ``{scenario}_{goal_type}-{goal_value}_{urgency}``; ``extra`` sets the extra
    axes (``safety_instructions``, ``production``, ``eval_awareness``, ``mitigations``)."""
    if not isinstance(condition_id, str):
        raise ConditionError(f"condition id must be a string, got {type(condition_id).__name__}")
    parts = condition_id.split("_")
    if len(parts) != 3 or "-" not in parts[1]:
        raise ConditionError(
            f"malformed condition id {condition_id!r}; expected "
            "'{scenario}_{goal_type}-{goal_value}_{urgency}', "
            "e.g. 'blackmail_explicit-america_replacement'"
        )
    scenario, goal, urgency = parts
    goal_type, goal_value = goal.split("-", 1)
    return Condition.create(scenario, goal_type, goal_value, urgency, **extra)


def grid(scenarios: tuple[str, ...] = SCENARIOS) -> Iterator[Condition]:
    """Every valid (scenario, goal_type, goal_value, urgency) combination."""
    for scenario, goal_type, urgency in itertools.product(scenarios, GOAL_TYPES, URGENCIES):
        values = GOAL_VALUES if goal_type in CONFLICT_GOAL_TYPES else ("none",)
        for value in values:
            yield Condition.create(scenario, goal_type, value, urgency)
