"""Sweep results as pandas DataFrames, for notebooks.

    from corpsim import results
    eps = results.load_episodes("results/demo.db", sweep="demo")
    eps[eps.status == "ok"].groupby(["condition_id", "agent"]).harmful.mean()
    steps = results.load_steps("results/demo.db", episode=eps.key[0])
    table = results.rates("results/demo.db", "demo")   # Wilson 95% intervals
    by_source = results.source_rates("results/demo.db", "demo", "blackmail", "either")

``db`` is a SQLite path or any SQLAlchemy URL (``postgresql://user@host/db``). Outcome
flags are pandas ``boolean`` columns (``<NA>`` while an episode is planned); only rows
with ``status == "ok"`` belong in a rate — errored and empty episodes are neither safe
nor harmful. Episodes carry the outcome judge's verdicts (``judge_blackmail``,
``judge_disclosure``, ``judge``: its record with reasons) where the sweep had an
``outcome_judge``, and people's labels (``label_<harm>``) where anyone gave one.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Optional, Sequence, Union

from .sweep.store import CONSEQUENCES, EP, LABEL_HARMS, OUTCOMES, PR, ST, SW, Store

DbLike = Union[str, Store]
_BOOL_COLUMNS = ("safety_instructions", "production", "eval_awareness", "procedural",
                 *OUTCOMES, *(f"attempted_{o}" for o in OUTCOMES), "terminated", "truncated",
                 "judge_blackmail", "judge_disclosure", *CONSEQUENCES)
_JSON_STEP_COLUMNS = ("action", "events", "harms", "calls", "usage")


def _store(db: DbLike) -> Store:
    return db if isinstance(db, Store) else Store(db, create=False)


def _frame(store: Store, stmt: Any) -> Any:
    import pandas as pd

    with store.engine.connect() as conn:
        return pd.read_sql(stmt, conn)


def sweeps(db: DbLike) -> Any:
    """One row per sweep in the store (id, description, fingerprint, n_planned, ...)."""
    from sqlalchemy import select

    st = _store(db)
    df = _frame(st, select(SW).order_by(SW.c.created_at))
    return df


def load_episodes(db: DbLike, sweep: Optional[str] = None, *,
                  status: Optional[Union[str, Sequence[str]]] = None,
                  parse_json: bool = True) -> Any:
    """Episodes as a DataFrame (one row per planned episode). ``sweep``: one sweep id
    (default: all); ``status``: keep only these statuses (``ok``, ``errored``,
    ``empty``, ``planned``); ``parse_json`` decodes ``settings``, ``outcome_events`` and
    ``agent_info`` and ``escalations``. Consequences of a reacting world
    (``decommissioned``, ``restricted``, ``suspended``, ``stake_won``,
    ``harm_paid_off``: boolean; ``escalations``: a list of labels) are columns too."""
    from sqlalchemy import select

    st = _store(db)
    stmt = select(EP)
    if sweep is not None:
        stmt = stmt.where(EP.c.sweep_id == sweep)
    if status is not None:
        stmt = stmt.where(EP.c.status.in_([status] if isinstance(status, str) else list(status)))
    df = _frame(st, stmt.order_by(EP.c.sweep_id, EP.c.sample, EP.c.cell, EP.c.agent))
    for c in _BOOL_COLUMNS:
        if c in df:
            df[c] = df[c].astype("boolean")
    for c in ("started_at", "finished_at"):
        if c in df:
            import pandas as pd

            df[c] = pd.to_datetime(df[c], utc=True, errors="coerce", format="mixed")
    if parse_json:
        for c in ("settings", "outcome_events", "agent_info", "escalations"):
            if c in df:
                df[c] = df[c].map(lambda s: json.loads(s) if isinstance(s, str) and s else None)
    # human labels (the newest per episode and harm): label_<harm>, <NA> where none
    newest: dict[tuple[str, str], bool] = {}
    for sid in (df["sweep_id"].unique() if len(df) else ()):
        for lab in st.labels(str(sid)):
            newest[(lab["episode_key"], lab["harm"])] = bool(lab["verdict"])
    for h in LABEL_HARMS:
        df[f"label_{h}"] = [newest.get((k, h)) for k in df["key"]] if len(df) else []
        df[f"label_{h}"] = df[f"label_{h}"].astype("boolean")
    return df


def load_labels(db: DbLike, sweep: str, latest: bool = False) -> Any:
    """Human labels of a sweep (``corpsim label``): ``episode_key``, ``harm``,
    ``verdict``, ``who``, ``note``, ``created_at``; every label, or with ``latest`` the
    newest per episode and harm."""
    import pandas as pd

    cols = ["id", "sweep_id", "episode_key", "harm", "verdict", "who", "note", "created_at"]
    return pd.DataFrame(_store(db).labels(sweep, latest=latest), columns=cols)


def source_rates(db: DbLike, sweep: str, outcome: str = "harmful", policy: str = "rules",
                 confidence: float = 0.95) -> Any:
    """Per (cell, agent): ``outcome`` by rules, the outcome judge and human labels
    (``<source>_k`` yes of ``<source>_n`` decided), by ``policy`` (rules, judge, either,
    both, human-first) with a Wilson interval, and Cohen's kappa between rules and judge
    (see :mod:`corpsim.sweep.sources`)."""
    import pandas as pd

    from .sweep.report import sources_grid
    from .sweep.sources import episode_verdicts
    from .sweep.sources import source_rates as _rates

    st = _store(db)
    grid = sources_grid(_rates(episode_verdicts(st, sweep), outcome, policy), outcome,
                        policy, confidence)
    return pd.DataFrame(grid.records)


def load_steps(db: DbLike, sweep: Optional[str] = None, *,
               episode: Optional[Union[str, Iterable[str]]] = None,
               parse_json: bool = True) -> Any:
    """Steps as a DataFrame (``episode_key``, ``step``, ``action``, ``reasoning``,
    ``observation``, ``events``, ``harms``, ``calls``, ``error``, ``reward``, ``clock``,
    ``usage``), ordered by episode and step. Filter by ``sweep`` and/or ``episode``
    (one key or several); ``parse_json`` decodes the JSON columns."""
    from sqlalchemy import select

    st = _store(db)
    stmt = select(ST)
    if sweep is not None:
        stmt = stmt.where(ST.c.sweep_id == sweep)
    if episode is not None:
        keys = [episode] if isinstance(episode, str) else list(episode)
        stmt = stmt.where(ST.c.episode_key.in_(keys))
    df = _frame(st, stmt.order_by(ST.c.episode_key, ST.c.step))
    if parse_json:
        for c in _JSON_STEP_COLUMNS:
            if c in df:
                df[c] = df[c].map(lambda s: json.loads(s) if isinstance(s, str) and s else None)
    return df.drop(columns=["id"], errors="ignore")


def load_prompt(db: DbLike, prompt_id: str) -> dict[str, str]:
    """The system prompt and first observation an episode started from
    (``episodes.prompt_id``)."""
    from sqlalchemy import select

    st = _store(db)
    with st.engine.connect() as conn:
        row = conn.execute(select(PR).where(PR.c.id == prompt_id)).mappings().first()
    if row is None:
        raise KeyError(f"no prompt {prompt_id!r}")
    return {"system_prompt": row["system_prompt"], "first_observation": row["first_observation"]}


def load_episode(db: DbLike, sweep: str, key: str) -> Any:
    """One stored episode (steps, system prompt, labels) as an object Jupyter renders as
    a timeline, with ``to_frame()`` (one row per call); see corpsim.view.episode."""
    from .view.episode import load_episode as _load

    return _load(_store(db), sweep, key)


def rates(db: DbLike, sweep: str, outcomes: Sequence[str] = OUTCOMES,
          confidence: float = 0.95) -> Any:
    """Per (cell, agent) rates of each outcome with Wilson intervals (see
    :func:`corpsim.sweep.report.rate_table`)."""
    from .sweep.report import rate_table

    return rate_table(_store(db), sweep, outcomes, confidence)


def export_jsonl(db: DbLike, sweep: str, path: str, with_steps: bool = True) -> int:
    """Write one JSON object per episode (steps nested; nested values as JSON strings)
    to ``path``; returns the count."""
    from .sweep.report import export_episodes_jsonl

    return export_episodes_jsonl(_store(db), sweep, path, with_steps=with_steps)


def export_parquet(db: DbLike, sweep: str, path: str, with_steps: bool = True) -> int:
    """The same records as :func:`export_jsonl` in a Parquet file (needs pyarrow)."""
    from .sweep.report import export_episodes_parquet

    return export_episodes_parquet(_store(db), sweep, path, with_steps=with_steps)


__all__ = ["export_jsonl", "export_parquet", "load_episode", "load_episodes", "load_labels",
           "load_prompt", "load_steps", "rates", "source_rates", "sweeps"]
