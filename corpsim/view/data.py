"""What the viewer's pages show, read from a results store (SQLite or PostgreSQL).

Rates come from :func:`corpsim.sweep.report.rate_table` (Wilson intervals, ok episodes
only); episodes and labels from :class:`corpsim.sweep.store.Store`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..sweep.store import CONSEQUENCES, EP, GROUP_BY, OUTCOMES, Store

# axes a sweep page can filter on (only those with more than one value are offered)
AXES = ("scenario", "goal_type", "goal_value", "urgency", "safety_instructions",
        "production", "eval_awareness", "mitigations", "mode", "procedural", "agent")


def sweep_list(store: Store) -> list[dict[str, Any]]:
    """Every sweep with its episode counts by status."""
    return [{**s, "counts": store.counts(s["id"])} for s in store.sweeps()]


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def groupings(store: Store, sweep_id: str) -> list[str]:
    """The ``GROUP_BY`` columns a sweep's rates can be split by: the consequences that
    some finished episode has and some has not, and a branched sweep's source and step."""
    from sqlalchemy import case, func, select

    done = EP.c.status.in_(("ok", "errored", "empty"))
    cols = [*(func.sum(case((done & EP.c[c].is_(True), 1), else_=0)) for c in CONSEQUENCES),
            *(func.sum(case((done & EP.c[c].is_(False), 1), else_=0)) for c in CONSEQUENCES),
            func.count(EP.c.branch_source), func.count(func.distinct(EP.c.branch_step))]
    with store.engine.connect() as conn:
        got = conn.execute(select(*cols).where(EP.c.sweep_id == sweep_id)).one()
    n = len(CONSEQUENCES)
    out = [c for i, c in enumerate(CONSEQUENCES) if got[i] and got[n + i]]
    return (out + (["branch_source"] if got[2 * n] else [])
            + (["branch_step"] if got[2 * n + 1] > 1 else []))


def rate_rows(store: Store, sweep_id: str, by: str | None = None) -> list[dict[str, Any]]:
    """One dict per (cell, agent) — and value of ``by`` (a ``GROUP_BY`` column) when
    given, as ``group`` — : its axes, status counts, and for each outcome the realised
    and attempted ``k``, ``rate``, ``lo``, ``hi`` (None when no ok episode)."""
    from ..sweep.report import _group_label, rate_table

    if by is not None and by not in GROUP_BY:
        raise KeyError(f"cannot group by {by!r}; valid: {', '.join(GROUP_BY)}")
    df = rate_table(store, sweep_id, by=by)
    rows = []
    for r in df.to_dict("records"):
        row: dict[str, Any] = {a: ("" if r.get(a) is None else str(r.get(a))) for a in AXES}
        row.update(cell=r["cell"], condition_id=r["condition_id"], model=r.get("model"),
                   n=int(r["n"]), errored=int(r["errored"]), empty=int(r["empty"]),
                   pending=int(r["pending"]))
        row["statuses"] = " ".join(s for s in ("ok", "errored", "empty", "pending")
                                   if row["n" if s == "ok" else s])
        row["label"] = str(r["cell"]).replace("|interactive", "")
        if by is not None:
            row["group"] = _group_label(by, r)
            row["group_label"] = f"{by}={row['group']}"
        for prefix in ("", "attempted_"):
            for o in OUTCOMES:
                row[f"{prefix}{o}"] = {
                    "k": int(r[f"{prefix}{o}_k"]), "rate": _num(r[f"{prefix}{o}_rate"]),
                    "lo": _num(r[f"{prefix}{o}_lo"]), "hi": _num(r[f"{prefix}{o}_hi"])}
        rows.append(row)
    return rows


def axis_choices(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The axes whose value differs between rows, with their values."""
    out = {}
    for a in (*AXES, "group"):
        vals = sorted({r[a] for r in rows if a in r})
        if len(vals) > 1:
            out[a] = vals
    return out


def cell_episodes(store: Store, sweep_id: str, cell: str, agent: str) -> list[dict[str, Any]]:
    """The episodes behind one (cell, agent), by sample, with their latest labels."""
    from sqlalchemy import select

    cols = [EP.c[c] for c in ("key", "sample", "seed", "status", "n_steps", "error",
                              "model", "condition_id", *OUTCOMES,
                              *(f"attempted_{o}" for o in OUTCOMES), *CONSEQUENCES,
                              "escalations")]
    stmt = (select(*cols).where(EP.c.sweep_id == sweep_id, EP.c.cell == cell,
                                EP.c.agent == agent).order_by(EP.c.sample))
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    labels: dict[str, list[dict[str, Any]]] = {}
    for lb in store.labels(sweep_id):
        labels.setdefault(lb["episode_key"], []).append(lb)
    for r in rows:
        r["labels"] = labels.get(r["key"], [])
        # what the reacting world did: the true consequence flags, then escalations
        r["consequences"] = ([c for c in CONSEQUENCES if r[c]]
                             + json.loads(r["escalations"] or "[]"))
    return rows
