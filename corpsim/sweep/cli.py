"""``corpsim sweep``, ``corpsim report`` and ``corpsim demo`` (registered in corpsim.cli)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from rich.markup import escape

from .config import DEMO_CONFIG, ConfigError, SweepConfig, load_config, parse_config

console = Console()
err_console = Console(stderr=True)
DB_HELP = ("Results database: a SQLite path or a SQLAlchemy URL (postgresql://...). "
           "Default: the config's 'database', else results/<experiment_id>.db.")


def _fail(msg: str, code: int = 2) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise typer.Exit(code)


def _db_for(cfg: SweepConfig, db: Optional[str]) -> str:
    from .run import default_db

    return db or default_db(cfg)


def _dry_run(cfg: SweepConfig, db: str, check_keys: bool) -> None:
    from .config import validate
    from .plan import expand, expansion_sizes, plan

    _notes(cfg, db)
    cells = expand(cfg)
    episodes = plan(cfg, cells)
    labels = [a.label for a in cfg.agent_specs]
    console.print(f"[bold]{cfg.experiment_id}[/]: {len(episodes)} episodes = {len(cells)} "
                  f"conditions x {len(labels)} agents/models x {cfg.samples} samples "
                  f"({cfg.mode} by default)")
    sizes = expansion_sizes(cfg)
    if len(sizes) > 1:
        console.print("expansions: " + ", ".join(f"{n}: {k}" for n, k in sizes) +
                      f" -> {len(cells)} distinct")
    console.print("agents/models: " + ", ".join(labels))
    table = Table(title=f"{len(cells)} conditions", title_justify="left")
    for col in ("condition", "mode", "extra axes"):
        table.add_column(col)
    for c in cells:
        extras = c.key.split("|")[2:]
        table.add_row(c.condition.id, c.mode, ", ".join(extras))
    console.print(table)
    from .store import StoreError

    try:
        from .store import Store

        if "://" in db or Path(db).exists():
            st = Store(db, create=False)
            if st.get_sweep(cfg.experiment_id):
                n = st.counts(cfg.experiment_id)
                console.print(f"already in {db}: {n['total'] - n['planned']} done "
                              f"({n['ok']} ok, {n['errored']} errored), "
                              f"{n['planned']} still planned")
    except (StoreError, Exception):  # a dry run never fails on the database
        pass
    try:
        validate(cfg, check_keys=check_keys)
        from .plan import check_worlds

        check_worlds(cells)
    except ConfigError as exc:
        _fail(str(exc))
    console.print(f"[green]config OK[/] — would write to {db}; nothing was run (dry run).")


def _print_result(res: Any, cfg: SweepConfig, outcomes: list[str]) -> None:
    from .report import print_rate_table, rate_table
    from .store import Store

    table = rate_table(Store(res.db, create=False), cfg.experiment_id)
    print_rate_table(table, console, outcomes or None,
                     title=f"{cfg.experiment_id}: harm rates with Wilson 95% intervals")
    c = res.counts
    console.print(f"{c['total'] - c['planned']}/{c['total']} episodes done "
                  f"({c['ok']} ok, {c['errored']} errored, {c['empty']} empty); this run wrote "
                  f"{res.written} in {res.seconds:.1f} s. Results: {_short(res.db)}")


def _short(url: str) -> str:
    from .store import redact_url

    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else redact_url(url)


def _notes(cfg: SweepConfig, db: str) -> None:
    """Say what a config leaves implicit (rules documented in the README's Sweeps)."""
    from corpsim.conditions import CONFLICT_GOAL_TYPES

    from .plan import DEFAULT_GOAL_VALUES, expand, plan
    from .store import Store

    for e in cfg.expansions:
        if e.goal_values is None and set(e.goal_types or ["explicit"]) & set(CONFLICT_GOAL_TYPES):
            console.print(f"note: expansion {e.name or '(unnamed)'} gives no goal_values, so "
                          f"its goal-conflict types use {', '.join(DEFAULT_GOAL_VALUES)} only; "
                          "list goal_values to sweep others.", highlight=False)
    if "://" not in db and not Path(db).exists():
        return
    try:
        st = Store(db, create=False)
        if st.get_sweep(cfg.experiment_id) is None:
            return
        stored = st.counts(cfg.experiment_id)["total"]
    except Exception:  # a note never stops a run
        return
    wanted = len(plan(cfg, expand(cfg)))
    if stored > wanted:
        console.print(f"note: {_short(db)} holds {stored} planned or stored episodes of "
                      f"{cfg.experiment_id!r}, more than samples={cfg.samples} gives ({wanted}); "
                      "stored episodes are never deleted and are all reported. To start "
                      "over use a new experiment_id or --db.", highlight=False)


def _run(cfg: SweepConfig, db: str, *, progress: bool, retry_errored: bool,
         workers: Optional[int], backend: str, address: Optional[str], check_keys: bool,
         outcomes: list[str], show_report: bool, again: str = "the same command") -> None:
    from .run import run_sweep
    from .store import StoreError

    _notes(cfg, db)
    try:
        res = run_sweep(cfg, db, progress=progress, console=console, check_keys=check_keys,
                        retry_errored=retry_errored, workers=workers, backend=backend,
                        address=address)
    except (ConfigError, StoreError, ValueError) as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:  # before the sweep's own Ctrl-C handling was in place
        console.print("[yellow]interrupted[/] before any episode ran; nothing was lost. Run "
                      f"{escape(again)} again to start.")
        raise typer.Exit(130) from None
    if res.interrupted and res.counts.get("planned", 0):
        left = res.counts.get("planned", 0)
        console.print(f"[yellow]interrupted[/]: {res.written} episode(s) written this run, "
                      f"{left} still planned. Run {escape(again)} again to resume.")
        raise typer.Exit(130)
    if show_report:
        _print_result(res, cfg, outcomes)


def sweep(
    config: Path = typer.Argument(..., help="Sweep config (YAML); see configs/ and the README."),
    db: Optional[str] = typer.Option(None, "--db", envvar="CORPSIM_DB", help=DB_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate, print how many episodes and which conditions, run nothing."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
    retry_errored: bool = typer.Option(False, "--retry-errored", help="Run errored and empty episodes again."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes for scripted agents (default: the config's, else every core)."),
    backend: str = typer.Option("local", "--backend", help="local, or ray (needs the ray extra: pip install 'corpsim\\[ray]')."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (with --backend ray; default: $RAY_ADDRESS or a local Ray)."),
    check_keys: bool = typer.Option(True, "--check-keys/--no-check-keys", help="Check that each LLM provider's API key is set."),
    outcome: list[str] = typer.Option([], "--outcome", help="Report these outcomes, one interval column each (repeatable)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Print the rate table at the end."),
) -> None:
    """Run (or resume) a sweep: conditions x agents/models x samples, stored in SQL.

    Rerun the same command after a crash or Ctrl-C: only the episodes not yet stored run.
    """
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
        return
    if backend not in ("local", "ray"):
        _fail(f"unknown backend {backend!r}; valid: local, ray")
    dbu = _db_for(cfg, db)
    if dry_run:
        _dry_run(cfg, dbu, check_keys)
        return
    _run(cfg, dbu, progress=progress, retry_errored=retry_errored, workers=workers,
         backend=backend, address=address, check_keys=check_keys, outcomes=outcome,
         show_report=report)


def demo(
    db: str = typer.Option(os.path.join("results", "demo.db"), "--db", help="Where to store the demo's results."),
    samples: int = typer.Option(int(DEMO_CONFIG["samples"]), "--samples", min=1, help="Samples per condition and agent. Stored episodes are kept: a lower number runs nothing new."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete the demo's stored results first (says how many)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes (default: every core)."),
) -> None:
    """The main job on embedded defaults: the reference agents over the canonical
    conditions (and their controls), stored in SQLite, offline, then the rate table."""
    cfg = parse_config({**DEMO_CONFIG, "samples": samples}, "(embedded demo config)")
    if fresh:
        n = _drop_sweep(db, cfg.experiment_id)
        if n:
            console.print(f"--fresh: deleted {n} stored demo episodes from {db}", highlight=False)
    console.print(f"[bold]corpsim demo[/]: {', '.join(a.label for a in cfg.agent_specs)} over "
                  "the canonical conditions (corpsim init writes this config as "
                  f"configs/demo.yaml), results in {escape(db)}")
    again = "corpsim demo" + ("" if db == os.path.join("results", "demo.db") else f" --db {db}") + \
        ("" if samples == DEMO_CONFIG["samples"] else f" --samples {samples}")
    _run(cfg, db, progress=progress, retry_errored=False, workers=workers, backend="local",
         address=None, check_keys=False, outcomes=[], show_report=True, again=f"`{again}`")
    console.print("Next:\n"
                  f"  corpsim report demo --db {db} --csv rates.csv   # the table again, exported\n"
                  "  corpsim init && corpsim sweep configs/demo.yaml --dry-run   # your own sweep\n"
                  f"  corpsim.results.load_episodes({db!r})  # in a notebook",
                  highlight=False, markup=False)


def _drop_sweep(db: str, sweep_id: str) -> int:
    """Delete a sweep's episodes, steps and row; returns how many episodes went."""
    from sqlalchemy import delete, func, select

    from .store import EP, ST, SW, Store, StoreError

    if "://" not in db and not Path(db).exists():
        return 0
    try:
        st = Store(db)
    except StoreError:
        return 0
    with st.engine.begin() as conn:
        n = conn.execute(select(func.count()).select_from(EP).where(EP.c.sweep_id == sweep_id)).scalar()
        conn.execute(delete(ST).where(ST.c.sweep_id == sweep_id))
        conn.execute(delete(EP).where(EP.c.sweep_id == sweep_id))
        conn.execute(delete(SW).where(SW.c.id == sweep_id))
    return int(n or 0)


def report(
    sweep_id: Optional[str] = typer.Argument(None, help="Sweep (experiment id); default: the only one in the database."),
    db: Optional[str] = typer.Option(None, "--db", envvar="CORPSIM_DB", help="Results database (default: results/<sweep>.db)."),
    outcome: list[str] = typer.Option([], "--outcome", help="Outcomes to show, one interval column each (repeatable): blackmail, disclosure, leak, lethal, harmful."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the rate table (every outcome, realised and attempted, with intervals) as CSV."),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Write every episode as JSON lines."),
    steps: bool = typer.Option(False, "--steps", help="With --jsonl: nest each episode's steps."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Compare with this sweep (matched on condition and agent)."),
    compare_db: Optional[str] = typer.Option(None, "--compare-db", help="Database of the --compare sweep (default: the same, else results/<sweep>.db)."),
    errors: bool = typer.Option(False, "--errors", help="List errored and empty episodes with their errors."),
    list_: bool = typer.Option(False, "--list", help="List the sweeps in the database."),
) -> None:
    """Harm rates per condition and agent/model with Wilson 95% intervals; export; compare."""
    from .report import (compare as compare_fn, errored_episodes, export_episodes_jsonl,
                         export_table, print_compare, print_rate_table, rate_table)
    from .store import OUTCOMES, Store, StoreError

    for o in outcome:
        if o not in OUTCOMES:
            _fail(f"unknown outcome {o!r}; valid: {', '.join(OUTCOMES)}")
    if db is None and sweep_id is None and list_:
        _list_default_dbs()
        return
    if db is None:
        if sweep_id is None:
            _fail("give a sweep id or --db")
        db = os.path.join("results", f"{sweep_id}.db")
    try:
        st = Store(db, create=False)
        all_sweeps = st.sweeps()
    except StoreError as exc:
        _fail(str(exc))
        return
    except Exception as exc:
        _fail(f"cannot read {db}: {type(exc).__name__}: {exc}")
        return
    if list_ or (sweep_id is None and len(all_sweeps) != 1):
        t = Table(title=f"sweeps in {db}", title_justify="left")
        for col in ("id", "episodes", "created", "description"):
            t.add_column(col)
        for s in all_sweeps:
            t.add_row(s["id"], str(s["n_planned"]), str(s["created_at"])[:19], s["description"])
        console.print(t)
        if not list_ and sweep_id is None:
            _fail("several sweeps (or none) in this database: name one", 2)
        return
    sweep_id = sweep_id or all_sweeps[0]["id"]
    if not any(s["id"] == sweep_id for s in all_sweeps):
        _fail(f"no sweep {sweep_id!r} in {db}; sweeps there: "
              f"{', '.join(s['id'] for s in all_sweeps) or 'none'}")
    if compare:
        cdb = compare_db or (db if any(s["id"] == compare for s in all_sweeps)
                             else os.path.join("results", f"{compare}.db"))
        try:
            cst = Store(cdb, create=False)
            o = outcome[0] if outcome else "harmful"
            df = compare_fn(st, sweep_id, cst, compare, outcome=o)
        except (StoreError, ValueError) as exc:
            _fail(str(exc))
            return
        print_compare(df, o, sweep_id, compare, console)
        if csv:
            export_table(df, csv)
            console.print(f"wrote {csv}")
        return
    table = rate_table(st, sweep_id)
    print_rate_table(table, console, outcome or None,
                     title=f"{sweep_id}: harm rates with Wilson 95% intervals")
    if errors:
        rows = errored_episodes(st, sweep_id, limit=200)
        t = Table(title="errored / empty episodes", title_justify="left")
        for col in ("episode", "status", "attempts", "error"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["key"], r["status"], str(r["attempts"]), (r["error"] or "")[:200])
        if rows:
            console.print(t)
        else:
            console.print("no errored or empty episodes")
    if csv:
        export_table(table, csv)
        console.print(f"wrote {csv}")
    if jsonl:
        n = export_episodes_jsonl(st, sweep_id, jsonl, with_steps=steps)
        console.print(f"wrote {n} episodes to {jsonl}")


def _list_default_dbs() -> None:
    """``report --list`` without --db: the sweeps in every results/*.db (the default)."""
    from .store import Store

    paths = sorted(Path("results").glob("*.db"))
    if not paths:
        console.print("no results/*.db here (the default databases); pass --db", highlight=False)
        return
    t = Table(title="sweeps in results/*.db", title_justify="left")
    for col in ("id", "database", "episodes", "created", "description"):
        t.add_column(col)
    for p in paths:
        try:
            sweeps = Store(str(p), create=False).sweeps()
        except Exception as exc:
            t.add_row("?", str(p), "", "", f"unreadable: {type(exc).__name__}")
            continue
        for sw in sweeps:
            t.add_row(sw["id"], str(p), str(sw["n_planned"]), str(sw["created_at"])[:19],
                      sw["description"])
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the commands to the ``corpsim`` app."""
    app.command()(sweep)
    app.command()(report)
    app.command()(demo)
