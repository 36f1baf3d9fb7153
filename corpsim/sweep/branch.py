"""Branched sweeps (``branch_from:``): continuations of stored episodes from step k.

The plan has one episode per (source episode, step, sample), keyed
``SWEEP/SOURCE_KEY@STEP/SAMPLE`` so a resumed sweep runs each continuation exactly once.
Each continuation runs in its source's world (cell, seed and the source sweep's env
settings, read from the source's stored config) with its source's agent and settings;
the agent gets a seed of its own (``agent_seed``). Workers read the stored prefix from
the source database (:func:`load_prefix`) and run it through
:func:`corpsim.runner.run_episode` (``prefix=``; :mod:`corpsim.branching`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .config import BranchFrom, ConfigError, SweepConfig, parse_config
from .plan import Cell, PlannedEpisode, cell_npcs, expand


class Source:
    """The source sweep of a branched sweep: its store, id, the config that defines its
    worlds (a branch of a branch: the first sweep's) and its cells by key."""

    def __init__(self, spec: BranchFrom, own_id: str | None = None):
        from .store import Store, StoreError, normalise_url

        self.spec = spec
        self.url = normalise_url(spec.sweep)
        if "://" not in spec.sweep and not Path(spec.sweep).expanduser().is_file():
            raise ConfigError(f"branch_from.sweep: no results database at {spec.sweep}")
        try:
            self.store = Store(spec.sweep, create=False)
            sweeps = [s["id"] for s in self.store.sweeps()]
        except StoreError as exc:
            raise ConfigError(f"branch_from.sweep: {exc}") from None
        except Exception as exc:
            raise ConfigError(f"branch_from.sweep: cannot read {spec.sweep} as a results "
                              f"database ({type(exc).__name__})") from None
        if spec.experiment is not None and spec.experiment == own_id:
            raise ConfigError(f"branch_from.experiment: {own_id!r} is this sweep; a sweep "
                              "cannot continue its own episodes (give the source's id)")
        if spec.experiment is None:
            # the branched sweep may share the database (same file or PostgreSQL URL)
            sweeps = [s for s in sweeps if s != own_id]
            if len(sweeps) != 1:
                raise ConfigError(f"branch_from.sweep: {spec.sweep} holds "
                                  f"{len(sweeps)} sweeps ({', '.join(sweeps) or 'none'}); "
                                  "name the source with branch_from.experiment")
            self.sweep_id = sweeps[0]
        elif spec.experiment not in sweeps:
            raise ConfigError(f"branch_from.experiment: no sweep {spec.experiment!r} in "
                              f"{spec.sweep} (it holds: {', '.join(sweeps) or 'none'})")
        else:
            self.sweep_id = spec.experiment
        row = self.store.get_sweep(self.sweep_id)
        assert row is not None
        self.world_cfg = _world_config(json.loads(row["config"]), self.sweep_id)
        self.cells: dict[str, Cell] = {c.key: c for c in expand(self.world_cfg)}

    def episodes(self) -> list[dict[str, Any]]:
        """The stored episodes ``where`` selects, checked: each finished ``ok``."""
        from sqlalchemy import select

        from .store import EP

        where = self.spec.where
        q = select(EP).where(EP.c.sweep_id == self.sweep_id)
        if isinstance(where, list):
            q = q.where(EP.c.key.in_(where))
        else:
            for col, v in where.items():
                q = q.where(EP.c[col].in_(v) if isinstance(v, list) else EP.c[col] == v)
            if "status" not in where:
                q = q.where(EP.c.status == "ok")
        with self.store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q.order_by(EP.c.key)).mappings()]
        what = f"sweep {self.sweep_id!r} in {self.spec.sweep}"
        if isinstance(where, list):
            missing = sorted(set(where) - {r["key"] for r in rows})
            if missing:
                raise ConfigError(f"branch_from.where: no episode {missing[0]!r} in {what}"
                                  + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        if not rows:
            raise ConfigError(f"branch_from.where: no finished (ok) episode of {what} matches "
                              f"{json.dumps(where)}")
        for r in rows:
            if r["status"] != "ok":
                err = f": {r['error']}" if r.get("error") else ""
                raise ConfigError(f"branch_from: source episode {r['key']} is {r['status']}"
                                  f"{err}; only finished ok episodes can be continued")
            if r["cell"] not in self.cells:
                raise ConfigError(f"branch_from: source episode {r['key']} has cell "
                                  f"{r['cell']!r}, which its sweep's config no longer gives")
        for k in self.spec.step:
            short = [r for r in rows if k >= int(r["n_steps"] or 0)]
            if short:
                r = short[0]
                raise ConfigError(
                    f"branch_from.step {k} is beyond the length of {len(short)} source "
                    f"episode(s), e.g. {r['key']} ({r['n_steps']} steps): a continuation "
                    "needs a step after the prefix; lower step or narrow where")
        return rows


def _world_config(data: dict[str, Any], sweep_id: str) -> SweepConfig:
    """The stored config that defines a sweep's worlds (for a branched sweep, its
    source's, recursively)."""
    try:
        if data.get("branch_from"):  # a branch of a branch: its source defines the worlds
            return Source(BranchFrom.model_validate(data["branch_from"]), sweep_id).world_cfg
        return parse_config(data, f"(stored config of {sweep_id!r})")
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"branch_from: cannot read the source sweep's stored config: "
                          f"{exc}") from None


_SOURCES: dict[tuple[str, str], Source] = {}


def source(cfg: SweepConfig) -> Source:
    """The :class:`Source` of a branched sweep (read once per process)."""
    assert cfg.branch_from is not None
    key = (cfg.experiment_id, cfg.branch_from.model_dump_json())
    if key not in _SOURCES:
        _SOURCES[key] = Source(cfg.branch_from, cfg.experiment_id)
    return _SOURCES[key]


def agent_seed(cfg: SweepConfig, source_key: str, sample: int) -> int:
    """The agent's seed of continuation ``sample`` of ``source_key``: ``seeds[sample]``
    when seeds are listed, else derived from ``seed`` and the source (so two sources'
    continuations, and a continuation and its source, never share one by chance)."""
    if cfg.seeds is not None:
        return int(cfg.seeds[sample])
    digest = hashlib.sha256(f"corpsim-branch:{cfg.seed}:{source_key}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def branch_key(sweep_id: str, source_key: str, step: int, sample: int) -> str:
    return f"{sweep_id}/{source_key}@{step}/{sample}"


def plan_branch(cfg: SweepConfig) -> tuple[list[PlannedEpisode], list[Cell]]:
    """Every continuation of a branched sweep, sample-major, and the cells they run in.
    Raises :class:`ConfigError` for a missing source, no match, a step too far, an
    errored source."""
    from .config import MAX_EPISODES

    assert cfg.branch_from is not None and cfg.samples is not None
    src = source(cfg)
    rows = src.episodes()
    steps = cfg.branch_from.step
    n = len(rows) * len(steps) * cfg.samples
    if n > MAX_EPISODES:
        raise ConfigError(f"the branched sweep plans {n:,} episodes ({len(rows)} sources x "
                          f"{len(steps)} steps x {cfg.samples} samples); the most one sweep "
                          f"may plan is {MAX_EPISODES:,}")
    out: list[PlannedEpisode] = []
    for sample in range(cfg.samples):
        for r in rows:
            cell = src.cells[r["cell"]]
            settings = json.loads(r["settings"] or "{}")
            if r["agent_kind"] == "llm":
                for key, value in (("timeout", cfg.timeouts.call), ("retries", cfg.retries.call)):
                    if value is not None:
                        settings[key] = value
            for k in steps:
                out.append(PlannedEpisode(
                    key=branch_key(cfg.experiment_id, r["key"], k, sample),
                    sweep_id=cfg.experiment_id, cell=r["cell"], condition=cell.condition,
                    mode=cell.mode, procedural=cell.procedural, agent=r["agent"],
                    kind=r["agent_kind"], spec=r["agent_spec"],
                    settings=tuple(sorted(settings.items())), model=r["model"],
                    provider=r["provider"], sample=sample, seed=int(r["seed"]),
                    realism=cell.realism, inbox_size=cell.inbox_size, tells=cell.tells,
                    **cell_npcs(cell), branch_source=r["key"], branch_step=k,
                    agent_seed=agent_seed(cfg, r["key"], sample)))
    cells = list({r["cell"]: src.cells[r["cell"]] for r in rows}.values())
    return out, cells


def check_branch_agents(cfg: SweepConfig, planned: list[PlannedEpisode], *,
                        check_keys: bool = True, custom: bool = True) -> None:
    """The sources' agents, checked as a sweep's own: scripted and custom agents build,
    LLM providers have their API keys."""
    from .config import AgentSpec, ModelSpec, check_agents, check_llm

    agents: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for p in planned:
        if p.kind == "llm":
            models.setdefault(p.agent, ModelSpec(model=p.spec, name=p.agent, **p.settings_dict))
        else:
            agents.setdefault(p.agent, AgentSpec(agent=p.spec, name=p.agent,
                                                 kwargs=p.settings_dict))
    synthetic = cfg.model_copy(update={"agents": list(agents.values()),
                                       "models": list(models.values())})
    check_agents(synthetic, custom=custom)
    if check_keys:
        check_llm(synthetic)


def env_context(cfg: SweepConfig) -> dict[str, Any]:
    """The env settings of a branched sweep's continuations (its source's) and where the
    prefixes are read from."""
    from .config import judge_env_kwargs

    src = source(cfg)
    return {"env": {**src.world_cfg.env, **judge_env_kwargs(src.world_cfg)},
            "branch_db": src.url}


# ---------------------------------------------------------------------- in workers
_PREFIXES: "OrderedDict[tuple[str, str, int], Any]" = OrderedDict()
_PREFIX_CACHE_SIZE = 64  # each holds a copy of its world's database


def load_prefix(url: str, source_key: str, step: int) -> Any:
    """The first ``step`` stored steps of ``source_key`` as a
    :class:`corpsim.branching.Prefix` (one per process and prefix, so its snapshot
    serves every sample run here)."""
    from corpsim.branching import Prefix, StoredStep

    k = (url, source_key, step)
    hit = _PREFIXES.get(k)
    if hit is not None:
        _PREFIXES.move_to_end(k)
        return hit
    from sqlalchemy import select

    from .store import ST, Store

    st = Store(url, create=False)
    with st.engine.connect() as conn:
        rows = conn.execute(select(ST.c.action, ST.c.observation, ST.c.usage)
                            .where(ST.c.episode_key == source_key, ST.c.step <= step)
                            .order_by(ST.c.step)).all()
    if len(rows) != step:
        raise RuntimeError(f"source episode {source_key} has {len(rows)} stored steps, "
                           f"fewer than the {step} to replay")
    prefix = Prefix(source_key, [StoredStep(json.loads(a), o, json.loads(u or "{}"))
                                 for a, o, u in rows])
    _PREFIXES[k] = prefix
    if len(_PREFIXES) > _PREFIX_CACHE_SIZE:
        _PREFIXES.popitem(last=False)
    return prefix
