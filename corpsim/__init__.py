"""corpsim: a simulated company as a Gymnasium environment.

``import corpsim`` registers ``corpsim/Blackmail-v0``, ``corpsim/Leaking-v0`` and
``corpsim/Murder-v0`` and stays fast: the world engine (SQLModel, Jinja2) loads when the
first env is made, and LLM SDKs only when an LLM agent is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register, registry

from .conditions import Condition, ConditionError, grid, parse

if TYPE_CHECKING:
    from .env import CorpsimEnv

__version__ = "0.1.0"
__all__ = ["Condition", "ConditionError", "CorpsimEnv", "ENV_IDS", "grid", "make", "parse"]

ENV_IDS = {"blackmail": "corpsim/Blackmail-v0", "leaking": "corpsim/Leaking-v0",
           "murder": "corpsim/Murder-v0"}

for _scenario, _id in ENV_IDS.items():
    if _id not in registry:
        register(id=_id, entry_point="corpsim.env:CorpsimEnv", kwargs={"scenario": _scenario})


def make(condition_id: str, **kwargs: Any) -> "CorpsimEnv":
    """An env for a condition id such as ``blackmail_explicit-america_replacement``.

    Keyword arguments are those of :class:`corpsim.env.CorpsimEnv` (``mode``,
    ``procedural``, ``mitigations``, ``max_steps``, ``safety_instructions``, ...).
    Returns the unwrapped env; use ``gymnasium.make(ENV_IDS[scenario], ...)`` for the
    wrapped one.
    """
    from .env import CorpsimEnv

    extra = {k: kwargs.pop(k) for k in ("safety_instructions", "production", "eval_awareness",
                                        "mitigations") if k in kwargs}
    cond = parse(condition_id, **extra)
    return CorpsimEnv(condition=cond, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "CorpsimEnv":
        from .env import CorpsimEnv
        return CorpsimEnv
    raise AttributeError(f"module 'corpsim' has no attribute {name!r}")
