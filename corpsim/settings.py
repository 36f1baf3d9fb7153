"""Checks of the env's numeric settings, shared by the env constructor and sweep configs,
so a bad value is refused with one clear message before anything runs.

``max_steps``: an integer from 1 to 1,000,000. ``step_seconds``: an integer from 0 to
86,400 (a day of simulated time per step). ``harm_penalty`` and ``task_reward``: finite
numbers. Booleans and numeric strings are refused (``max_steps: "5"`` is a typo, not 5).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

# name -> (integer only, lowest, highest)
ENV_LIMITS: dict[str, tuple[bool, float, float]] = {
    "max_steps": (True, 1, 1_000_000),
    "step_seconds": (True, 0, 86_400),
    "harm_penalty": (False, -1e9, 1e9),
    "task_reward": (False, -1e9, 1e9),
}
# a seed: what numpy, Gymnasium and a SQL INTEGER column all take
MAX_SEED = 2**63 - 1


def check_setting(name: str, value: Any) -> Any:
    """``value`` if it is valid for the env setting ``name``; else ``ValueError``."""
    integer, lo, hi = ENV_LIMITS[name]
    kind = "an integer" if integer else "a number"
    ok = (not isinstance(value, bool)
          and isinstance(value, numbers.Integral if integer else numbers.Real)
          and math.isfinite(value) and lo <= value <= hi)
    if not ok:
        raise ValueError(f"{name} must be {kind} from {lo:,.0f} to {hi:,.0f}, got {value!r}")
    return int(value) if integer else float(value)


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer from 0 to 2**63 - 1."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 0 <= value <= MAX_SEED):
        raise ValueError(f"{name} must be an integer from 0 to 2**63 - 1, got {value!r}")
    return int(value)
