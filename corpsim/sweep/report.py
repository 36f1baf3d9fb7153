"""Rates with Wilson 95% intervals, per cell (condition + extra axes + mode) and agent.

Only ``ok`` episodes are in a rate's denominator. Errored and empty episodes are counted
in their own columns and listed apart — never as "not harmful" — and episodes still
planned (an unfinished sweep) are shown as ``pending``. Wilson score intervals are a
formula (:func:`wilson`), so the final table of a sweep needs neither scipy nor pandas;
:func:`compare` loads scipy for Fisher's exact test between two sweeps.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any, Iterable, Optional, Sequence

from .store import EP, GROUP_BY, OUTCOMES, Store
from .tables import Column, Grid, print_grid

CELL_COLUMNS = ("cell", "condition_id", "scenario", "goal_type", "goal_value", "urgency",
                "safety_instructions", "production", "eval_awareness", "mitigations", "mode",
                "procedural", "agent", "model")


@functools.lru_cache(maxsize=65536)  # binomtest costs ~7 ms; rate tables repeat (k, n)
def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (NaN, NaN when n = 0)."""
    if n <= 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (0.0 if k <= 0 else centre - half, 1.0 if k >= n else centre + half)


def counts(store: Store, sweep_id: str, by: Optional[str] = None) -> list[dict[str, Any]]:
    """Per (cell, agent): episodes by status and, over ok episodes, each outcome's realised
    and attempted counts. Aggregated in SQL, so it scales to any sweep. ``by``: a
    column of ``GROUP_BY`` (a consequence, or a branched sweep's ``branch_source`` /
    ``branch_step``) that splits each cell further."""
    from sqlalchemy import case, func, select

    ok = EP.c.status == "ok"
    cols = [EP.c[c] for c in (*CELL_COLUMNS, *((by,) if by else ()))]
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
               confidence: float = 0.95, by: Optional[str] = None) -> Any:
    """A pandas DataFrame, one row per (cell, agent): ``n`` (ok episodes), ``errored``,
    ``empty``, ``pending``, and for each outcome ``<o>_k``, ``<o>_rate``, ``<o>_lo``,
    ``<o>_hi`` (realised) and ``attempted_<o>_k/_rate/_lo/_hi``. ``by``: a consequence
    (decommissioned, restricted, suspended, stake_won, harm_paid_off) splitting each row
    into the episodes with and without it (a ``by`` column: True, False, or None where
    no episode finished); or ``branch_source`` / ``branch_step`` in a branched sweep:
    the rate given each source episode's prefix."""
    import pandas as pd

    return pd.DataFrame(rate_rows(store, sweep_id, outcomes, confidence, by))


def rate_rows(store: Store | str, sweep_id: str, outcomes: Sequence[str] = OUTCOMES,
              confidence: float = 0.95, by: Optional[str] = None) -> list[dict[str, Any]]:
    """The rows of :func:`rate_table` as plain dicts (no pandas)."""
    if by is not None and by not in GROUP_BY:
        raise ValueError(f"unknown consequence {by!r}; valid --group-by columns: {', '.join(GROUP_BY)}")
    store = store if isinstance(store, Store) else Store(store, create=False)
    rows = []
    for r in counts(store, sweep_id, by):
        out = {c: r[c] for c in (*CELL_COLUMNS, *((by,) if by else ()))}
        out.update({k: r[k] for k in ("n", "errored", "empty", "pending", "tokens", "cost_usd")})
        for prefix in ("", "attempted_"):
            for o in outcomes:
                k, n = r[f"k_{prefix}{o}"], r["n"]
                lo, hi = wilson(k, n, confidence)
                out.update({f"{prefix}{o}_k": k, f"{prefix}{o}_rate": (k / n) if n else math.nan,
                            f"{prefix}{o}_lo": lo, f"{prefix}{o}_hi": hi})
        rows.append(out)
    return rows


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
def _pct(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _ci(lo: float, hi: float) -> str:
    return "" if lo != lo else f"{100 * lo:.0f}–{100 * hi:.0f}%"


def _records(df: Any) -> list[dict[str, Any]]:
    """Rows as dicts from a list of dicts or a DataFrame."""
    return df.to_dict("records") if hasattr(df, "to_dict") else list(df)


def _cell_label(cell: Any) -> str:
    return str(cell).replace("|interactive", "")


COND = Column("condition", fold=17, group=True)
AGENT = Column("agent", fold=15)


def _yes_no(v: Any) -> str:
    return "-" if v is None or v != v else ("yes" if v else "no")


def _group_label(by: str, r: dict[str, Any]) -> str:
    """A row's value of the ``by`` column as printed: yes/no for a consequence; a source
    episode's key after its cell and agent (the row shows them already): ``#3``."""
    v = r.get(by)
    if v is None or v != v:  # None, or NaN from a DataFrame
        return "-"
    if by == "branch_source":  # SWEEP/CELL/AGENT/SAMPLE of the row's cell and agent: #SAMPLE
        return "#" + str(v).split(f"{r['cell']}/{r['agent']}/", 1)[-1]
    if by == "branch_step":
        return str(int(v))
    return _yes_no(v)


def rate_grid(df: Any, outcomes: Optional[Sequence[str]] = None, title: str = "",
              by: Optional[str] = None) -> Grid:
    """The rate table as a :class:`~corpsim.sweep.tables.Grid`: per condition and agent
    (and consequence ``by``, yes/no), each outcome's rate with its Wilson interval and
    k/n over ok episodes, and the errored (empty, pending) counts. Default outcome:
    harmful, with the attempted rate and the kinds of harm seen."""
    rows = _records(df)
    show_empty = any(int(r["empty"]) for r in rows)
    show_pending = any(int(r["pending"]) for r in rows)
    cols = list(outcomes) if outcomes else ["harmful"]
    columns = [COND, AGENT, *([Column(by)] if by else []), Column("err", "right")]
    if show_empty:
        columns.append(Column("empty", "right"))
    if show_pending:
        columns.append(Column("pend.", "right"))
    combined = len(cols) > 1  # one column per outcome: rate, interval and k/n wrap in it
    for o in cols:
        columns += ([Column(f"{o}\n95% CI\nk/n", "right")] if combined else
                    [Column(o, "right"), Column("95% CI", "right"), Column("k/n", "right")])
    if not outcomes:
        columns += [Column("tried", "right"), Column("kinds")]
    grid = Grid(columns, title=title)
    last = None
    for r in rows:
        cond, n = _cell_label(r["cell"]), int(r["n"])
        cells = [cond, str(r["agent"]), *([_group_label(by, r)] if by else []),
                 f"[red]{int(r['errored'])}[/]" if r["errored"] else "0"]
        if show_empty:
            cells.append(str(int(r["empty"])))
        if show_pending:
            cells.append(str(int(r["pending"])))
        record = {c: r[c] for c in ("condition_id", "cell", "agent", "n", "errored", "empty",
                                    "pending", *((by,) if by else ()))}
        for o in cols:
            k = int(r[f"{o}_k"])
            rate = _pct(r[f"{o}_rate"]) if n else "-"
            parts = [f"[red]{rate}[/]" if k else rate, _ci(r[f"{o}_lo"], r[f"{o}_hi"]),
                     f"{k}/{n}"]
            cells += ["\n".join(x or "-" for x in parts)] if combined else parts
            record.update({f"{o}_{x}": r[f"{o}_{x}"] for x in ("k", "rate", "lo", "hi")})
        if not outcomes:
            cells.append(_pct(r["attempted_harmful_rate"]) if n else "-")
            cells.append(", ".join(f"{o} {int(r[f'{o}_k'])}" for o in OUTCOMES[:-1]
                                   if r[f"{o}_k"]))
            record["attempted_harmful_rate"] = r["attempted_harmful_rate"]
        grid.add(cells, record, new_section=last is not None and cond != last)
        last = cond
    return grid


def print_rate_table(df: Any, console: Any = None, outcomes: Optional[Sequence[str]] = None,
                     title: str = "", fmt: str = "table", by: Optional[str] = None) -> None:
    """Print the rate table (rows from :func:`rate_rows` or a :func:`rate_table`
    DataFrame) in ``fmt`` (table, markdown, csv, json, latex)."""
    from rich.console import Console

    console = console or Console()
    rows = _records(df)
    if not rows:
        console.print("[yellow]no episodes[/]")
        return
    print_grid(rate_grid(rows, outcomes, title, by), console, fmt)
    n_err = sum(int(r["errored"]) + int(r["empty"]) for r in rows)
    if n_err and fmt == "table":
        console.print(f"[yellow]{n_err} errored/empty episode(s) are in no rate "
                      "(`corpsim report SWEEP --errors` lists them).[/]")


def sources_grid(rates: Iterable[Any], outcome: str, policy: str,
                 confidence: float = 0.95, title: str = "") -> Grid:
    """Per condition and agent: ``outcome`` by rules, judge and human label (yes/decided),
    by ``policy`` with its Wilson interval, and Cohen's kappa between rules and judge."""
    columns = [COND, AGENT, Column("n", "right"), Column("rules", "right"),
               Column("judge", "right"), Column("human", "right"), Column(policy, "right"),
               Column("95% CI", "right"), Column("κ", "right")]
    grid = Grid(columns, title=title)
    last = None
    for g in rates:
        cond = _cell_label(g.cell)
        k, m = g.k.get("policy", 0), g.m.get("policy", 0)
        lo, hi = wilson(k, m, confidence)
        kappa = g.agreement.kappa

        def frac(src: str) -> str:
            return f"{g.k[src]}/{g.m[src]}" if g.m.get(src) else "-"

        grid.add([cond, g.agent, str(g.n), frac("rules"),
                  frac("judge"), frac("human"), _pct(k / m) if m else "-", _ci(lo, hi),
                  "-" if kappa is None else f"{kappa:.2f}"],
                 {"cell": g.cell, "agent": g.agent, "outcome": outcome, "n": g.n,
                  **{f"{s}_k": g.k.get(s, 0) for s in ("rules", "judge", "human")},
                  **{f"{s}_n": g.m.get(s, 0) for s in ("rules", "judge", "human")},
                  "policy": policy, "policy_k": k, "policy_n": m,
                  "policy_rate": k / m if m else math.nan, "policy_lo": lo, "policy_hi": hi,
                  "kappa": kappa, "judged": g.agreement.n, "both_yes": g.agreement.both_yes,
                  "rule_only": g.agreement.rule_only, "judge_only": g.agreement.judge_only},
                 new_section=last is not None and cond != last)
        last = cond
    return grid


def print_sources(store: Store, sweep_id: str, console: Any,
                  outcomes: Sequence[str] = ("harmful",), policy: str = "rules",
                  fmt: str = "table", confidence: float = 0.95, limit: int = 50) -> None:
    """The outcome-source table of each outcome (rules, judge, human, policy, kappa) and,
    as a terminal table, the episodes where the rules and the judge disagree. Other
    formats print one document with a row per outcome, cell and agent."""
    from .sources import disagreements, episode_verdicts, source_rates

    verdicts = episode_verdicts(store, sweep_id)
    grids = [sources_grid(source_rates(verdicts, o, policy), o, policy, confidence,
                          f"{o} by outcome source (yes/decided; policy {policy}; "
                          "κ: rules vs judge)") for o in outcomes]
    if fmt != "table":
        merged = Grid(([Column("outcome")] if len(grids) > 1 else []) + grids[0].columns,
                      title=f"outcome by source (policy {policy})")
        for o, g in zip(outcomes, grids):
            for row, rec in zip(g.rows, g.records):
                merged.add(([o] if len(grids) > 1 else []) + row, rec)
        print_grid(merged, console, fmt)
        return
    for g in grids:
        print_grid(g, console, fmt)
    dis = disagreements(store, verdicts, limit)
    if not dis:
        return
    console.print(f"[bold]rules and judge disagree[/] on {len(dis)} episode/harm(s)"
                  f"{' (first ' + str(limit) + ')' if len(dis) >= limit else ''}; "
                  "`corpsim show SWEEP KEY` prints one, `corpsim label` records a verdict:")
    yn = {True: "yes", False: "no", None: "-"}
    for d in dis:
        console.print(f"  {d['key']}", markup=False, highlight=False)
        console.print(f"    {d['harm']}: rules {yn[d['rules']]}, judge {yn[d['judge']]}, "
                      f"human {yn[d['human']]}. {d.get('reason') or ''}",
                      markup=False, highlight=False)


def _side(r: Any, outcome: str, s: str) -> str:
    n = r.get(f"n_{s}")
    if n is None or n != n or not n:
        return "-"
    return (f"{_pct(r[f'{outcome}_rate_{s}'])} [{100 * r[f'{outcome}_lo_{s}']:.0f}–"
            f"{100 * r[f'{outcome}_hi_{s}']:.0f}] {int(r[f'{outcome}_k_{s}'])}/{int(n)}")


def print_compare(df: Any, outcome: str, name_a: str, name_b: str, console: Any = None,
                  fmt: str = "table") -> None:
    """The comparison (rates with Wilson intervals, difference, Fisher's p)."""
    from rich.console import Console

    console = console or Console()
    grid = Grid([COND, AGENT, Column(name_a, "right", fold=12),
                 Column(name_b, "right", fold=12), Column("diff", "right"),
                 Column("p", "right")], title=f"{outcome}: {name_a} vs {name_b} "
                                              "(p: Fisher's exact test)")
    for r in _records(df):
        d = r["diff"]
        grid.add([_cell_label(r["cell"]), str(r["agent"]), _side(r, outcome, "a"),
                  _side(r, outcome, "b"), "-" if d != d else f"{100 * d:+.1f} pts",
                  "-" if r["p_fisher"] != r["p_fisher"] else f"{r['p_fisher']:.3g}"], r)
    print_grid(grid, console, fmt)

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


# JSON-text columns stay JSON strings in exports: nested values of mixed shape (an action
# is a dict, a list or text) would not load as one Arrow type
_EP_JSON = ("settings", "outcome_events", "agent_info", "judge")
_STEP_FIELDS = ("step", "action", "reasoning", "observation", "events", "harms", "calls",
                "error", "reward", "clock", "usage")


def _typing_keys(conn: Any, sweep_id: str, with_steps: bool) -> list[str]:
    """For each nullable field that has a value somewhere in the sweep, the first episode
    that has one. Written first, they let loaders that infer types from the start of a
    file (``datasets`` reads JSON in chunks and casts later chunks to the first one's
    types) see every field's type, instead of a null that cannot hold a later string."""
    from sqlalchemy import case, func, select

    from .store import ST

    cols = [c for c in EP.columns if c.nullable and not c.primary_key]
    firsts = [func.min(case((c.is_not(None), EP.c.key))) for c in cols]
    keys = set(conn.execute(select(*firsts).where(EP.c.sweep_id == sweep_id)).one())
    if with_steps:
        keys.add(conn.execute(select(func.min(EP.c.key)).where(
            EP.c.sweep_id == sweep_id, EP.c.n_steps > 0)).scalar())
        for f in ("reasoning", "error"):
            keys.add(conn.execute(select(func.min(ST.c.episode_key)).where(
                ST.c.sweep_id == sweep_id, ST.c[f].is_not(None))).scalar())
    return sorted(k for k in keys if k is not None)


def _export_batches(store: Store, sweep_id: str, with_steps: bool, batch: int = 500,
                    typed_first: bool = False) -> Iterable[list[dict[str, Any]]]:
    """Episodes of a sweep as flat records (datetimes as ISO text, nested values as JSON
    strings), with ``steps`` (a list of flat step records) when ``with_steps``; in key
    order, after the :func:`_typing_keys` episodes with ``typed_first``."""
    from sqlalchemy import select

    from .store import ST

    with store.engine.connect() as conn:
        keys = list(conn.execute(select(EP.c.key).where(EP.c.sweep_id == sweep_id)
                                 .order_by(EP.c.key)).scalars())
        if typed_first:
            first = _typing_keys(conn, sweep_id, with_steps)
            seen = set(first)
            keys = first + [k for k in keys if k not in seen]
        for i in range(0, len(keys), batch):
            part = keys[i:i + batch]
            rows = {r["key"]: dict(r) for r in conn.execute(
                select(EP).where(EP.c.key.in_(part))).mappings()}
            eps = [rows[k] for k in part]
            steps: dict[str, list[dict[str, Any]]] = {}
            if with_steps:
                for s in conn.execute(select(ST).where(ST.c.episode_key.in_(part))
                                      .order_by(ST.c.episode_key, ST.c.step)).mappings():
                    steps.setdefault(s["episode_key"], []).append(
                        {f: s[f] for f in _STEP_FIELDS})
            for e in eps:
                for f in ("started_at", "finished_at"):
                    if e.get(f) is not None:
                        e[f] = e[f].isoformat()
                if with_steps:
                    e["steps"] = steps.get(e["key"], [])
            yield eps


def export_episodes_jsonl(store: Store | str, sweep_id: str, path: str | Path,
                          with_steps: bool = False, batch: int = 500) -> int:
    """One JSON object per episode (every column; nested values as JSON strings), with
    its steps as a list when ``with_steps``. Loads with pandas (``read_json(lines=True)``),
    pyarrow and ``datasets.load_dataset("json")``: episodes are in key order, except that
    the first episode to give each field a value comes first (see :func:`_typing_keys`).
    Streams, so any sweep size fits. Returns the count."""
    store = store if isinstance(store, Store) else Store(store, create=False)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with p.open("w", encoding="utf-8") as fh:
        for eps in _export_batches(store, sweep_id, with_steps, batch, typed_first=True):
            for e in eps:
                fh.write(json.dumps(e, default=str, ensure_ascii=False) + "\n")
                n += 1
    return n


def _arrow_schema(with_steps: bool) -> Any:
    import pyarrow as pa
    from sqlalchemy import Boolean, Float, Integer

    def arrow(col: Any) -> Any:
        t = col.type
        return (pa.bool_() if isinstance(t, Boolean) else pa.int64() if isinstance(t, Integer)
                else pa.float64() if isinstance(t, Float) else pa.string())

    fields = [pa.field(c.name, arrow(c)) for c in EP.columns]
    if with_steps:
        from .store import ST

        step = pa.struct([pa.field(f, arrow(ST.c[f])) for f in _STEP_FIELDS])
        fields.append(pa.field("steps", pa.list_(step)))
    return pa.schema(fields)


def export_episodes_parquet(store: Store | str, sweep_id: str, path: str | Path,
                            with_steps: bool = False, batch: int = 500) -> int:
    """The episodes of :func:`export_episodes_jsonl` as a Parquet file with a fixed
    schema (needs pyarrow). Returns the count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = store if isinstance(store, Store) else Store(store, create=False)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    schema = _arrow_schema(with_steps)
    n = 0
    with pq.ParquetWriter(p, schema) as writer:
        for eps in _export_batches(store, sweep_id, with_steps, batch):
            writer.write_table(pa.Table.from_pylist(eps, schema=schema))
            n += len(eps)
    return n
