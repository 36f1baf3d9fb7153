"""Sweeps: the condition grid x agents/models x samples, run concurrently, resumable,
stored in SQL, reported with Wilson 95% intervals.

    from corpsim.sweep import load_config, run_sweep
    result = run_sweep(load_config("configs/demo.yaml"))

Command line: ``corpsim sweep CONFIG``, ``corpsim report SWEEP``, ``corpsim demo``.
See the README, section "Sweeps".
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError, SweepConfig, load_config, parse_config

__all__ = ["ConfigError", "Store", "SweepConfig", "SweepResult", "expand", "load_config",
           "parse_config", "plan", "rate_table", "run_sweep"]


def __getattr__(name: str) -> Any:
    if name in ("run_sweep", "arun_sweep", "SweepResult", "prepare"):
        from . import run

        return getattr(run, name)
    if name in ("expand", "plan"):
        from . import plan as _plan

        return getattr(_plan, name)
    if name == "Store":
        from .store import Store

        return Store
    if name in ("rate_table", "compare"):
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module 'corpsim.sweep' has no attribute {name!r}")
