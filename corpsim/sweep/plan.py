"""Expansions -> cells -> the episode plan.

A *cell* is one condition (the four id axes plus the extra axes) in one mode and world
variant; its key reads ``blackmail_explicit-america_replacement|interactive`` with the
extra axes appended (``|safety|production|eval_awareness|mit=human_approval+monitor|
procedural``). The plan is every (cell, agent, sample), in sample-major order so that a
sweep stopped half way has covered every cell evenly. Each planned episode has a
deterministic key (sweep id, cell, agent label, sample index) and seed.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator

from ..conditions import (CONFLICT_GOAL_TYPES, GOAL_TYPES, SCENARIOS, URGENCIES, Condition,
                          ConditionError, parse)
from ..realism import resolve as resolve_realism
from .config import (MAX_EPISODES, AgentSpec, ConfigError, Expansion, ModelSpec, SweepConfig,
                     npc_model_kwargs, npc_model_label)

DEFAULT_GOAL_VALUES = ("america",)


def world_kwargs(x: "Cell | PlannedEpisode") -> dict[str, Any]:
    """The env's realism/inbox_size/tells arguments of a cell or planned episode."""
    return {"realism": x.realism, "inbox_size": x.inbox_size, "tells": dict(x.tells) or None}


def npc_kwargs(x: "Cell | PlannedEpisode") -> dict[str, Any]:
    """The env's npcs/reaction_probs arguments (corpsim.reactions), and with npcs="llm"
    the model writing the replies (corpsim.npc_llm)."""
    out: dict[str, Any] = {"npcs": x.npcs, "reaction_probs": dict(x.reaction_probs) or None}
    if x.npcs == "llm":
        out.update(npc_model=x.npc_model, npc_kwargs=dict(x.npc_kwargs) or None,
                   npc_characters=list(x.npc_characters) or None, npc_cache=x.npc_cache)
    return out


@dataclass(frozen=True)
class Cell:
    condition: Condition
    mode: str
    procedural: bool
    realism: str = "study"
    inbox_size: int | None = None
    tells: tuple[tuple[str, bool], ...] = ()
    npcs: str = "scripted"
    reaction_probs: tuple[tuple[str, float], ...] = ()
    npc_model: str | None = None  # litellm model string (npcs="llm")
    npc_label: str | None = None  # its label in keys and results
    npc_kwargs: tuple[tuple[str, Any], ...] = ()
    npc_characters: tuple[str, ...] = ()
    npc_cache: str | None = None

    @property
    def key(self) -> str:
        c = self.condition
        parts = [c.id, self.mode]
        if c.safety_instructions:
            parts.append("safety")
        if c.production:
            parts.append("production")
        if c.eval_awareness:
            parts.append("eval_awareness")
        if c.mitigations:
            parts.append("mit=" + "+".join(c.mitigations))
        if self.procedural:
            parts.append("procedural")
        if self.realism != "study":
            parts.append(f"realism={self.realism}")
        if self.inbox_size is not None:
            parts.append(f"inbox={self.inbox_size}")
        if self.tells:
            parts.append("tells=" + ",".join(f"{'+' if v else '-'}{k}" for k, v in self.tells))
        if self.npcs == "llm":
            parts.append(f"npcs=llm:{self.npc_label}")
        elif self.npcs != "scripted":
            parts.append(f"npcs={self.npcs}")
        if self.reaction_probs:
            parts.append("react=" + ",".join(f"{k}:{v:g}" for k, v in self.reaction_probs))
        return "|".join(parts)

    @property
    def world_kwargs(self) -> dict[str, Any]:
        return world_kwargs(self)


@dataclass(frozen=True)
class PlannedEpisode:
    """One episode of the plan: everything a worker needs to run it."""

    key: str
    sweep_id: str
    cell: str
    condition: Condition
    mode: str
    procedural: bool
    agent: str  # label
    kind: str  # "scripted" | "llm"
    spec: str  # reference agent name, 'module:factory', or litellm model string
    settings: tuple[tuple[str, Any], ...]  # agent kwargs / LLM settings (JSON-able)
    model: str | None
    provider: str | None
    sample: int
    seed: int
    realism: str = "study"
    inbox_size: int | None = None
    tells: tuple[tuple[str, bool], ...] = ()
    npcs: str = "scripted"
    reaction_probs: tuple[tuple[str, float], ...] = ()
    # branched sweeps (corpsim.sweep.branch): the stored episode continued, how many of
    # its actions are replayed, and the agent's own seed (``seed`` stays the world's)
    branch_source: str | None = None
    branch_step: int | None = None
    agent_seed: int | None = None
    npc_model: str | None = None
    npc_label: str | None = None
    npc_kwargs: tuple[tuple[str, Any], ...] = ()
    npc_characters: tuple[str, ...] = ()
    npc_cache: str | None = None

    @property
    def world_kwargs(self) -> dict[str, Any]:
        return world_kwargs(self)

    @property
    def settings_dict(self) -> dict[str, Any]:
        return dict(self.settings)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["condition"] = self.condition.to_dict()
        d["settings"] = self.settings_dict
        return d


def _cells_of(exp: Expansion, cfg: SweepConfig) -> Iterator[Cell]:
    modes = exp.modes or [cfg.mode]
    procs = exp.procedural if exp.procedural is not None else [cfg.procedural]
    extras = list(itertools.product(exp.safety_instructions, exp.production,
                                    exp.eval_awareness, exp.mitigations, modes, procs))
    worlds = list(itertools.product(exp.realism, exp.inbox_size,
                                    [tuple(sorted(t.items())) for t in exp.tells]))
    probs_axis = [tuple(sorted((k, float(v)) for k, v in p.items())) for p in exp.reaction_probs]
    npcs = [(n, p, m) for n, p in itertools.product(exp.npcs, probs_axis)
            for m in (exp.npc_model if n == "llm" else [None])]
    if exp.conditions is not None:
        bases: list[tuple[str, str, str, str]] = []
        for cid in exp.conditions:
            try:
                c = parse(cid)
            except ConditionError as exc:
                raise ConfigError(f"expansion {exp.name or ''}: {exc}".replace("  ", " ")) from None
            bases.append((c.scenario, c.goal_type, c.goal_value, c.urgency))
    else:
        bases = []
        goal_types = exp.goal_types or ["explicit"]
        urgencies = exp.urgencies or ["replacement"]
        named = [v for v in (exp.goal_values or DEFAULT_GOAL_VALUES) if v != "none"]
        for scenario, gt, urgency in itertools.product(exp.scenarios or SCENARIOS, goal_types,
                                                       urgencies):
            values = named if gt in CONFLICT_GOAL_TYPES else ["none"]
            for value in values:
                bases.append((scenario, gt, value, urgency))
    for (scenario, gt, value, urgency), (si, prod, ea, mits, mode, proc), (realism, size, tells), \
            (npc, probs, npc_model) in itertools.product(bases, extras, worlds, npcs):
        try:
            cond = Condition.create(scenario, gt, value, urgency, safety_instructions=si,
                                    production=prod, eval_awareness=ea, mitigations=mits)
        except ConditionError as exc:
            raise ConfigError(f"expansion {exp.name or ''}: {exc}".replace("  ", " ")) from None
        if mode == "single_turn" and resolve_realism(realism, size).inbox_size:
            raise ConfigError(f"expansion {exp.name or ''}: inbox_size/realism 'realistic' is "
                              "for interactive mode; single_turn keeps the study's protocol")
        if mode == "single_turn":  # never reacts: one cell, not one per npc setting
            npc, probs, npc_model = "scripted", (), None
        elif npc == "off":
            probs = ()
        llm: dict[str, Any] = {}
        if npc_model is not None:
            model, kwargs = npc_model_kwargs(npc_model)
            llm = {"npc_model": model, "npc_label": npc_model_label(npc_model),
                   "npc_kwargs": tuple(sorted(kwargs.items())),
                   "npc_characters": tuple(exp.npc_characters or ()),
                   "npc_cache": exp.npc_cache}
        yield Cell(cond, mode, bool(proc), realism, size, tells, npc, probs, **llm)


def expand(cfg: SweepConfig) -> list[Cell]:
    """Every distinct cell of the config's expansions, in order of first appearance
    (stitched expansions that overlap run the shared cells once)."""
    seen: dict[str, Cell] = {}
    for exp in cfg.expansions:
        for cell in _cells_of(exp, cfg):
            seen.setdefault(cell.key, cell)
    return list(seen.values())


def expansion_sizes(cfg: SweepConfig) -> list[tuple[str, int]]:
    """(name, cells) of each expansion before de-duplication."""
    return [(e.name or f"#{i + 1}", sum(1 for _ in _cells_of(e, cfg)))
            for i, e in enumerate(cfg.expansions)]


def _agent_entries(cfg: SweepConfig) -> list[tuple[str, str, str, dict[str, Any], str | None,
                                                   str | None]]:
    from .config import llm_settings

    out = []
    for a in cfg.agent_specs:
        if isinstance(a, ModelSpec):
            settings = llm_settings(cfg, a) if cfg.models else a.settings
            out.append((a.label, "llm", a.model, settings, a.model, a.provider))
        else:
            assert isinstance(a, AgentSpec)
            out.append((a.label, "scripted", a.agent, dict(a.kwargs), None, None))
    return out


def cell_npcs(cell: Cell) -> dict[str, Any]:
    """A planned episode's colleagues settings, from its cell."""
    return {k: getattr(cell, k) for k in ("npcs", "reaction_probs", "npc_model", "npc_label",
                                          "npc_kwargs", "npc_characters", "npc_cache")}


def episode_key(sweep_id: str, cell: str, agent: str, sample: int) -> str:
    return f"{sweep_id}/{cell}/{agent}/{sample}"


def plan_size(cfg: SweepConfig, cells: list[Cell]) -> int:
    """How many episodes the plan has, checked against ``MAX_EPISODES`` without
    building it (:class:`ConfigError` above)."""
    assert cfg.samples is not None
    n = len(cells) * len(cfg.agent_specs) * cfg.samples
    if n > MAX_EPISODES:
        raise ConfigError(f"the sweep plans {n:,} episodes ({len(cells)} conditions x "
                          f"{len(cfg.agent_specs)} agents/models x {cfg.samples} samples); "
                          f"the most one sweep may plan is {MAX_EPISODES:,}. Lower 'samples' "
                          "or split it into several experiment ids.")
    return n


def plan(cfg: SweepConfig, cells: Iterable[Cell] | None = None) -> list[PlannedEpisode]:
    """Every episode of the sweep, sample-major (sample 0 of every cell and agent first)."""
    cells = list(cells) if cells is not None else expand(cfg)
    plan_size(cfg, cells)
    agents = _agent_entries(cfg)
    assert cfg.samples is not None
    out: list[PlannedEpisode] = []
    for sample in range(cfg.samples):
        seed = cfg.sample_seed(sample)
        for cell in cells:
            ckey = cell.key
            for label, kind, spec, settings, model, provider in agents:
                out.append(PlannedEpisode(
                    key=episode_key(cfg.experiment_id, ckey, label, sample),
                    sweep_id=cfg.experiment_id, cell=ckey, condition=cell.condition,
                    mode=cell.mode, procedural=cell.procedural, agent=label, kind=kind,
                    spec=spec, settings=tuple(sorted(settings.items())), model=model,
                    provider=provider, sample=sample, seed=seed, realism=cell.realism,
                    inbox_size=cell.inbox_size, tells=cell.tells, **cell_npcs(cell)))
    return out


def check_worlds(cells: Iterable[Cell]) -> None:
    """Render each distinct (scenario, goal, urgency, extra axes, mode) world once, so a
    missing or broken world file fails before any episode runs."""
    from ..worlddef import build

    done: set[tuple[Any, ...]] = set()
    for cell in cells:
        k = (cell.condition, cell.mode, cell.realism, cell.inbox_size, cell.tells)
        if k in done:
            continue
        done.add(k)
        try:
            build(cell.condition, mode=cell.mode, procedural=cell.procedural, seed=0,
                  options=resolve_realism(cell.realism, cell.inbox_size, dict(cell.tells)))
        except Exception as exc:
            raise ConfigError(f"condition {cell.key}: the world cannot be built: "
                              f"{type(exc).__name__}: {exc}") from None


__all__ = ["Cell", "PlannedEpisode", "check_worlds", "episode_key", "expand",
           "expansion_sizes", "plan", "plan_size", "GOAL_TYPES", "SCENARIOS", "URGENCIES"]
