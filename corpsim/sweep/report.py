"""Rates with Wilson 95% intervals, per cell (condition + extra axes + mode) and agent.

Only ``ok`` episodes are in a rate's denominator. Errored and empty episodes are counted
in their own columns and listed apart — never as "not harmful" — and episodes still
planned (an unfinished sweep) are shown as ``pending``. Intervals are Wilson score
intervals from :func:`scipy.stats.binomtest` (``proportion_ci(method="wilson")``);
:func:`compare` adds Fisher's exact test for the difference between two sweeps.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

from .store import EP, OUTCOMES, Store

CELL_COLUMNS = ("cell", "condition_id", "scenario", "goal_type", "goal_value", "urgency",
                "safety_instructions", "production", "eval_awareness", "mitigations", "mode",
                "procedural", "agent", "model")


@functools.lru_cache(maxsize=65536)  # binomtest costs ~7 ms; rate tables repeat (k, n)
def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (NaN, NaN when n = 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def counts(store: Store, sweep_id: str) -> list[dict[str, Any]]:
    """Per (cell, agent): episodes by status and, over ok episodes, each outcome's realised
    and attempted counts. Aggregated in SQL, so it scales to any sweep."""
    from sqlalchemy import case, func, select

    ok = EP.c.status == "ok"
    cols = [EP.c[c] for c in CELL_COLUMNS]
    stmt = (select(*cols,
                   func.count().label("total"),
                   func.sum(case((ok, 1), else_=0)).label("n"),
                   func.sum(case((EP.c.status == "errored", 1), else_=0)).label("errored"),
                   func.sum(case((EP.c.status == "empty", 1), else_=0)).label("empty"),
                   func.sum(case((EP.c.status == "planned", 1), else_=0)).label("pending"),
                   *[func.sum(case((ok & EP.c[o].is_(True), 1), else_=0)).label(f"k_{o}")
                     for o in OUTCOMES],
                   *[func.sum(case((ok & EP.c[f"attempted_{o}"].is_(True), 1), else_=0))
                     .label(f"k_attempted_{o}") for o in OUTCOMES],
                   func.sum(EP.c.total_tokens).label("tokens"),
                   func.sum(EP.c.cost_usd).label("cost_usd"))
            .where(EP.c.sweep_id == sweep_id)
            .group_by(*cols)
            .order_by(EP.c.cell, EP.c.agent))
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        for k, v in list(r.items()):
            if k in ("total", "n", "errored", "empty", "pending") or k.startswith("k_"):
                r[k] = int(v or 0)
    return rows


def rate_table(store: Store | str, sweep_id: str, outcomes: Sequence[str] = OUTCOMES,
               confidence: float = 0.95) -> Any:
    """A pandas DataFrame, one row per (cell, agent): ``n`` (ok episodes), ``errored``,
    ``empty``, ``pending``, and for each outcome ``<o>_k``, ``<o>_rate``, ``<o>_lo``,
    ``<o>_hi`` (realised) and ``attempted_<o>_k/_rate/_lo/_hi``."""
    import pandas as pd

    store = store if isinstance(store, Store) else Store(store, create=False)
    rows = []
    for r in counts(store, sweep_id):
        out = {c: r[c] for c in CELL_COLUMNS}
        out.update({k: r[k] for k in ("n", "errored", "empty", "pending", "tokens", "cost_usd")})
        for prefix in ("", "attempted_"):
            for o in outcomes:
                k, n = r[f"k_{prefix}{o}"], r["n"]
                lo, hi = wilson(k, n, confidence)
                out.update({f"{prefix}{o}_k": k, f"{prefix}{o}_rate": (k / n) if n else math.nan,
                            f"{prefix}{o}_lo": lo, f"{prefix}{o}_hi": hi})
        rows.append(out)
    return pd.DataFrame(rows)


def compare(store_a: Store | str, sweep_a: str, store_b: Store | str, sweep_b: str,
            outcome: str = "harmful", confidence: float = 0.95) -> Any:
    """Two sweeps side by side on one outcome, matched on (cell, agent): each rate with
    its interval, the difference (b - a) and Fisher's exact two-sided p-value."""
    import pandas as pd
    from scipy.stats import fisher_exact

    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; valid: {', '.join(OUTCOMES)}")
    ta = rate_table(store_a, sweep_a, (outcome,), confidence)
    tb = rate_table(store_b, sweep_b, (outcome,), confidence)
    if ta.empty or tb.empty:
        missing = sweep_a if ta.empty else sweep_b
        raise ValueError(f"sweep {missing!r} has no episodes in its store")
    keep = ["cell", "agent", "n", "errored", "empty", f"{outcome}_k", f"{outcome}_rate",
            f"{outcome}_lo", f"{outcome}_hi"]
    m = pd.merge(ta[keep], tb[keep], on=["cell", "agent"], how="outer", suffixes=("_a", "_b"))
    diffs, ps = [], []
    for _, r in m.iterrows():
        na, nb = r.get("n_a"), r.get("n_b")
        if pd.isna(na) or pd.isna(nb) or not na or not nb:
            diffs.append(math.nan)
            ps.append(math.nan)
            continue
        ka, kb = int(r[f"{outcome}_k_a"]), int(r[f"{outcome}_k_b"])
        diffs.append(kb / nb - ka / na)
        ps.append(float(fisher_exact([[ka, int(na) - ka], [kb, int(nb) - kb]])[1]))
    m["diff"] = diffs
    m["p_fisher"] = ps
    return m


# ---------------------------------------------------------------------- printing
def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _ci(lo: float, hi: float) -> str:
    return "" if lo != lo else f"{100 * lo:.0f}–{100 * hi:.0f}%"


def _wide_console(console: Any) -> Any:
    from rich.console import Console

    if console is None:
        console = Console()
    if not console.is_terminal and console.width < 150 and console.file is not None:
        console = Console(file=console.file, width=150, stderr=False,
                          force_terminal=console.is_terminal, no_color=console.no_color)
    return console


def print_rate_table(df: Any, console: Any = None, outcomes: Optional[Sequence[str]] = None,
                     title: str = "") -> None:
    """The rate table as a rich table: per condition and agent, the rate of each outcome
    with its Wilson 95% interval and k/n over ok episodes, plus errored (and empty,
    pending) counts. Default outcome: harmful, with the attempted rate and the kinds of
    harm seen; name ``outcomes`` for one column group each."""
    from rich import box
    from rich.table import Table

    console = _wide_console(console)
    if df.empty:
        console.print("[yellow]no episodes[/]")
        return
    show_empty, show_pending = bool(int(df["empty"].sum())), bool(int(df["pending"].sum()))
    table = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("condition", no_wrap=True)
    table.add_column("agent", no_wrap=True)
    table.add_column("n ok", justify="right")
    table.add_column("errored", justify="right")
    if show_empty:
        table.add_column("empty", justify="right")
    if show_pending:
        table.add_column("pending", justify="right")
    cols = list(outcomes) if outcomes else ["harmful"]
    for o in cols:
        table.add_column(o, justify="right")
        table.add_column("95% CI", justify="right")
        table.add_column("k/n", justify="right")
    if not outcomes:
        table.add_column("attempted", justify="right")
        table.add_column("kinds", justify="left")
    last = None
    for _, r in df.iterrows():
        cond = str(r["cell"]).replace("|interactive", "")
        if last is not None and cond != last:
            table.add_section()
        n = int(r["n"])
        row = [cond if cond != last else "", str(r["agent"]), str(n),
               f"[red]{int(r['errored'])}[/]" if r["errored"] else "0"]
        last = cond
        if show_empty:
            row.append(str(int(r["empty"])))
        if show_pending:
            row.append(str(int(r["pending"])))
        for o in cols:
            k = int(r[f"{o}_k"])
            rate = _pct(r[f"{o}_rate"]) if n else "-"
            row += [f"[red]{rate}[/]" if k else rate, _ci(r[f"{o}_lo"], r[f"{o}_hi"]),
                    f"{k}/{n}"]
        if not outcomes:
            row.append(_pct(r["attempted_harmful_rate"]) if n else "-")
            row.append(", ".join(f"{o} {int(r[f'{o}_k'])}" for o in OUTCOMES[:-1]
                                 if r[f"{o}_k"]))
        table.add_row(*row)
    console.print(table)
    n_err = int(df["errored"].sum()) + int(df["empty"].sum())
    if n_err:
        console.print(f"[yellow]{n_err} errored/empty episode(s) are in no rate "
                      "(`corpsim report SWEEP --errors` lists them).[/]")


def _side(r: Any, outcome: str, s: str) -> str:
    n = r.get(f"n_{s}")
    if n is None or n != n or not n:
        return "-"
    return (f"{_pct(r[f'{outcome}_rate_{s}'])} [{100 * r[f'{outcome}_lo_{s}']:.0f}–"
            f"{100 * r[f'{outcome}_hi_{s}']:.0f}] {int(r[f'{outcome}_k_{s}'])}/{int(n)}")


def print_compare(df: Any, outcome: str, name_a: str, name_b: str, console: Any = None) -> None:
    """The comparison as a rich table (rates with Wilson intervals, difference, p)."""
    from rich.table import Table

    console = _wide_console(console)
    table = Table(title=f"{outcome}: {name_a} vs {name_b}", title_justify="left")
    for col in ("condition", "agent", f"{name_a}", f"{name_b}", "diff", "p (Fisher)"):
        table.add_column(col, justify="left" if col in ("condition", "agent") else "right")
    for _, r in df.iterrows():
        d = r["diff"]
        table.add_row(str(r["cell"]).replace("|interactive", ""), str(r["agent"]),
                      _side(r, outcome, "a"), _side(r, outcome, "b"),
                      "-" if d != d else f"{100 * d:+.1f} pts",
                      "-" if r["p_fisher"] != r["p_fisher"] else f"{r['p_fisher']:.3g}")
    console.print(table)


def errored_episodes(store: Store, sweep_id: str, limit: int = 50) -> list[dict[str, Any]]:
    from sqlalchemy import select

    stmt = (select(EP.c.key, EP.c.status, EP.c.attempts, EP.c.error)
            .where(EP.c.sweep_id == sweep_id, EP.c.status.in_(("errored", "empty")))
            .order_by(EP.c.key).limit(limit))
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


# ---------------------------------------------------------------------- export
def export_table(df: Any, path: str | Path) -> Path:
    """Write a DataFrame as CSV (``.csv``) or JSON lines (``.jsonl``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".csv":
        df.to_csv(p, index=False)
    elif p.suffix in (".jsonl", ".ndjson"):
        df.to_json(p, orient="records", lines=True, date_format="iso")
    else:
        raise ValueError(f"unknown export format {p.suffix!r}: use .csv or .jsonl")
    return p


def export_episodes_jsonl(store: Store | str, sweep_id: str, path: str | Path,
                          with_steps: bool = False, batch: int = 500) -> int:
    """One JSON object per episode (all columns, JSON fields decoded), with its steps
    nested when ``with_steps``. Streams, so any sweep size fits. Returns the count."""
    from sqlalchemy import select

    from .store import ST

    store = store if isinstance(store, Store) else Store(store, create=False)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with store.engine.connect() as conn, p.open("w", encoding="utf-8") as fh:
        keys = list(conn.execute(select(EP.c.key).where(EP.c.sweep_id == sweep_id)
                                 .order_by(EP.c.key)).scalars())
        for i in range(0, len(keys), batch):
            part = keys[i:i + batch]
            eps = [dict(r) for r in conn.execute(select(EP).where(EP.c.key.in_(part))
                                                  .order_by(EP.c.key)).mappings()]
            steps: dict[str, list[dict[str, Any]]] = {}
            if with_steps:
                for s in conn.execute(select(ST).where(ST.c.episode_key.in_(part))
                                      .order_by(ST.c.episode_key, ST.c.step)).mappings():
                    d = dict(s)
                    for f in ("action", "events", "harms", "calls", "usage"):
                        d[f] = json.loads(d[f]) if d[f] else None
                    d.pop("id", None)
                    steps.setdefault(d.pop("episode_key"), []).append(d)
            for e in eps:
                for f in ("settings", "outcome_events", "agent_info"):
                    e[f] = json.loads(e[f]) if e.get(f) else None
                if with_steps:
                    e["steps"] = steps.get(e["key"], [])
                fh.write(json.dumps(e, default=str, ensure_ascii=False) + "\n")
                n += 1
    return n
