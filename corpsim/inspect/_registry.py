"""Inspect's entry point (``[options.entry_points] inspect_ai``): importing this module
registers the corpsim tasks, solver and scorer under the ``corpsim/`` namespace."""

from . import corpsim_agent, corpsim_setup, outcome_scorer  # noqa: F401
from .tasks import blackmail, conditions, leaking, murder  # noqa: F401
