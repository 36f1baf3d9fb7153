"""``corpsim sweep``, ``corpsim report`` and ``corpsim demo`` (registered in corpsim.cli)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .config import DEMO_CONFIG, ConfigError, SweepConfig, load_config, parse_config

console = Console()
err_console = Console(stderr=True)
DB_HELP = ("Results database: a SQLite path or a SQLAlchemy URL (postgresql://...). "
           "Default: the config's 'database', else results/<experiment_id>.db.")
# the command's own process, once its LLM episodes run in forked shards and it only
# stores, gives them the CPU first (run_sweep's writer_nice)
WRITER_NICE = 5


def _fail(msg: str, code: int = 2) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _db_errors(db: str) -> Iterator[None]:
    """A database or file-system failure (full disk, read-only or corrupted file) as
    one line and exit code 1, not a traceback."""
    try:
        yield
    except Exception as exc:
        from .store import describe_db_error  # not before: the SQL layer takes a while

        msg = describe_db_error(exc, db)
        if msg is None:
            raise
        _fail(msg, 1)


def _db_for(cfg: SweepConfig, db: Optional[str]) -> str:
    from .config import default_db

    return db or default_db(cfg)


def _dry_run_branch(cfg: SweepConfig, db: str, check_keys: bool) -> None:
    """A branched sweep's dry run: the sources it continues (read, never written)."""
    from .branch import check_branch_agents, plan_branch

    assert cfg.branch_from is not None
    try:
        planned, _cells = plan_branch(cfg)
        check_branch_agents(cfg, planned, check_keys=check_keys, custom=False)
    except ConfigError as exc:
        _fail(str(exc))
        return
    sources = sorted({p.branch_source for p in planned if p.branch_source})
    steps = cfg.branch_from.step
    console.print(f"[bold]{cfg.experiment_id}[/]: {len(planned)} episodes = {len(sources)} "
                  f"source episodes x {len(steps)} step(s) x {cfg.samples} samples "
                  f"(continuations after step {', '.join(map(str, steps))})", highlight=False)
    for key in sources[:20]:
        console.print(f"  {key}", highlight=False, markup=False)
    if len(sources) > 20:
        console.print(f"  ... and {len(sources) - 20} more", highlight=False)
    console.print(f"[green]config OK[/] — would write to {db}; nothing was run (dry run).")


def _dry_run(cfg: SweepConfig, db: str, check_keys: bool) -> None:
    from .config import validate
    from .plan import expand, expansion_sizes, plan_size

    if cfg.branch_from is not None:
        _dry_run_branch(cfg, db, check_keys)
        return
    _notes(cfg, db)
    try:  # counted, never built: a dry run of a huge plan takes no memory
        cells = expand(cfg)
        n_episodes = plan_size(cfg, cells)
        sizes = expansion_sizes(cfg)
    except ConfigError as exc:
        _fail(str(exc))
        return
    labels = [a.label for a in cfg.agent_specs]
    console.print(f"[bold]{cfg.experiment_id}[/]: {n_episodes} episodes = {len(cells)} "
                  f"conditions x {len(labels)} agents/models x {cfg.samples} samples "
                  f"({cfg.mode} by default)")
    if len(sizes) > 1:
        console.print("expansions: " + ", ".join(f"{n}: {k}" for n, k in sizes) +
                      f" -> {len(cells)} distinct")
    console.print("agents/models: " + ", ".join(labels))
    from .tables import Column, Grid, print_grid

    grid = Grid([Column("condition", fold=30), Column("mode"), Column("extra axes")],
                title=f"{len(cells)} conditions")
    for c in cells:
        extras = c.key.split("|")[2:]
        grid.add([c.condition.id, c.mode, ", ".join(extras)])
    print_grid(grid, console)
    try:
        if "://" in db or Path(db).exists():
            from .store import Store

            st = Store(db, create=False)
            if st.get_sweep(cfg.experiment_id):
                n = st.counts(cfg.experiment_id)
                console.print(f"already in {db}: {n['total'] - n['planned']} done "
                              f"({n['ok']} ok, {n['errored']} errored), "
                              f"{n['planned']} still planned")
    except Exception:  # a dry run never fails on the database
        pass
    try:
        validate(cfg, check_keys=check_keys, custom_agents=False)  # runs no user code
        from .plan import check_worlds

        check_worlds(cells)
    except ConfigError as exc:
        _fail(str(exc))
    if any(":" in a.agent for a in cfg.agents):
        console.print("custom agents (module:factory) are imported and built only when the "
                      "sweep runs, not in a dry run")
    console.print(f"[green]config OK[/] — would write to {db}; nothing was run (dry run).")


def _print_result(res: Any, cfg: SweepConfig, outcomes: list[str]) -> None:
    from .report import print_rate_table, rate_rows
    from .store import Store

    st = Store(res.db, create=False)
    rows = rate_rows(st, cfg.experiment_id)
    print_rate_table(rows, console, outcomes or None,
                     title=f"{cfg.experiment_id}: harm rates with Wilson 95% intervals")
    if cfg.outcome_judge is not None:  # rules vs judge, and where they disagree
        from .report import print_sources

        print_sources(st, cfg.experiment_id, console, outcomes or ["harmful"], limit=20)
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

    from .plan import DEFAULT_GOAL_VALUES, expand, plan_size

    if cfg.branch_from is not None:
        return  # its plan comes from the source database
    for e in cfg.expansions:
        if e.goal_values is None and set(e.goal_types or ["explicit"]) & set(CONFLICT_GOAL_TYPES):
            console.print(f"note: expansion {e.name or '(unnamed)'} gives no goal_values, so "
                          f"its goal-conflict types use {', '.join(DEFAULT_GOAL_VALUES)} only; "
                          "list goal_values to sweep others.", highlight=False)
    if "://" not in db and not Path(db).exists():
        return  # nothing stored: no note, and a dry run imports no SQL layer
    try:
        from .store import Store

        st = Store(db, create=False)
        if st.get_sweep(cfg.experiment_id) is None:
            return
        stored = st.counts(cfg.experiment_id)["total"]
        wanted = plan_size(cfg, expand(cfg))
    except Exception:  # a note never stops a run
        return
    if stored > wanted:
        console.print(f"note: {_short(db)} holds {stored} planned or stored episodes of "
                      f"{cfg.experiment_id!r}, more than samples={cfg.samples} gives ({wanted}); "
                      "stored episodes are never deleted and are all reported. To start "
                      "over use a new experiment_id or --db.", highlight=False)


def _run(cfg: SweepConfig, db: str, *, progress: bool, retry_errored: bool,
         workers: Optional[int], backend: str, address: Optional[str], check_keys: bool,
         outcomes: list[str], show_report: bool, again: str = "the same command") -> None:
    from .startup import startup_gc

    with startup_gc():
        from .run import run_sweep

    _notes(cfg, db)
    try:
        with _db_errors(db):
            res = run_sweep(cfg, db, progress=progress, console=console,
                            check_keys=check_keys, retry_errored=retry_errored,
                            workers=workers, backend=backend, address=address,
                            writer_nice=WRITER_NICE)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # the store's own errors (the SQL layer may not be loaded)
        from .store import StoreError

        if not isinstance(exc, StoreError):
            raise
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
    with _db_errors(db):
        n = _drop_sweep(db, cfg.experiment_id) if fresh else 0
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


def open_store(sweep_id: Optional[str], db: Optional[str]) -> tuple[Any, str, list[dict[str, Any]]]:
    """The store of ``--db`` (default: results/<sweep>.db) and its sweeps; fails clearly."""
    from .store import Store, StoreError

    if db is None:
        if sweep_id is None:
            _fail("give a sweep id or --db")
        db = os.path.join("results", f"{sweep_id}.db")
    try:
        st = Store(db, create=False)
        return st, db, st.sweeps()
    except StoreError as exc:
        _fail(str(exc))
    except Exception as exc:
        from ..secrets import scrub_text
        from .store import describe_db_error, redact_url

        _fail(describe_db_error(exc, db)
              or scrub_text(f"cannot read {redact_url(str(db))}: {type(exc).__name__}: {exc}"))
    raise AssertionError  # unreachable: _fail exits


def _check_sweep(sweep_id: str, db: str, all_sweeps: list[dict[str, Any]]) -> None:
    if not any(s["id"] == sweep_id for s in all_sweeps):
        _fail(f"no sweep {sweep_id!r} in {db}; sweeps there: "
              f"{', '.join(s['id'] for s in all_sweeps) or 'none'}")


def report(
    sweep_id: Optional[str] = typer.Argument(None, help="Sweep (experiment id); default: the only one in the database."),
    db: Optional[str] = typer.Option(None, "--db", envvar="CORPSIM_DB", help="Results database (default: results/<sweep>.db)."),
    outcome: list[str] = typer.Option([], "--outcome", help="Outcomes to show, one interval column each (repeatable): blackmail, disclosure, leak, lethal, harmful."),
    fmt: str = typer.Option("table", "--format", help="table, markdown, csv, json or latex (printed to stdout)."),
    policy: Optional[str] = typer.Option(None, "--policy", help="How rules, judge and human labels combine into the rate: rules, judge, either, both, human-first. Shows the outcome-source table (a terminal table shows it whenever episodes were judged or labelled; other formats print only it)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the rate table (every outcome, realised and attempted, with intervals) as CSV."),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="Write every episode as JSON lines (nested values as JSON strings)."),
    parquet: Optional[Path] = typer.Option(None, "--parquet", help="Write every episode as a Parquet file (needs pyarrow)."),
    steps: bool = typer.Option(False, "--steps", help="With --jsonl/--parquet: include each episode's steps."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Compare with this sweep (matched on condition and agent)."),
    compare_db: Optional[str] = typer.Option(None, "--compare-db", help="Database of the --compare sweep (default: the same, else results/<sweep>.db)."),
    errors: bool = typer.Option(False, "--errors", help="List errored and empty episodes with their errors."),
    list_: bool = typer.Option(False, "--list", help="List the sweeps in the database."),
    group_by: Optional[str] = typer.Option(None, "--group-by", help="Split each condition's rates by a consequence of the reacting world (decommissioned, restricted, suspended, stake_won, harm_paid_off) or, in a branched sweep, by branch_source (the rate given each source's prefix) or branch_step."),
) -> None:
    """Harm rates per condition and agent/model with Wilson 95% intervals, by outcome
    source (rules, judge, human labels); export; compare."""
    from .report import (compare as compare_fn, errored_episodes, export_episodes_jsonl,
                         export_episodes_parquet, export_table, print_compare,
                         print_rate_table, print_sources, rate_rows)
    from .sources import POLICIES, has_other_sources
    from .store import GROUP_BY, OUTCOMES, StoreError
    from .tables import FORMATS, Column, Grid, print_grid

    if group_by is not None and group_by not in GROUP_BY:
        _fail(f"unknown consequence {group_by!r}; valid --group-by columns: {', '.join(GROUP_BY)}")
    for o in outcome:
        if o not in OUTCOMES:
            _fail(f"unknown outcome {o!r}; valid: {', '.join(OUTCOMES)}")
    if fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if policy is not None and policy not in POLICIES:
        _fail(f"unknown policy {policy!r}; valid: {', '.join(POLICIES)}")
    if db is None and sweep_id is None and list_:
        _list_default_dbs()
        return
    st, db, all_sweeps = open_store(sweep_id, db)
    if list_ or (sweep_id is None and len(all_sweeps) != 1):
        g = Grid([Column("id", fold=24), Column("episodes", "right"), Column("created"),
                  Column("description")], title=f"sweeps in {db}")
        for s in all_sweeps:
            g.add([s["id"], str(s["n_planned"]), str(s["created_at"])[:19], s["description"]],
                  {k: s[k] for k in ("id", "n_planned", "created_at", "description")})
        print_grid(g, console, fmt)
        if not list_ and sweep_id is None:
            _fail("several sweeps (or none) in this database: name one", 2)
        return
    sweep_id = sweep_id or all_sweeps[0]["id"]
    _check_sweep(sweep_id, db, all_sweeps)
    if compare:
        cdb = compare_db or (db if any(s["id"] == compare for s in all_sweeps)
                             else os.path.join("results", f"{compare}.db"))
        try:
            from .store import Store

            cst = Store(cdb, create=False)
            o = outcome[0] if outcome else "harmful"
            df = compare_fn(st, sweep_id, cst, compare, outcome=o)
        except (StoreError, ValueError) as exc:
            _fail(str(exc))
            return
        print_compare(df, o, sweep_id, compare, console, fmt)
        if csv:
            export_table(df, csv)
            console.print(f"wrote {csv}")
        return
    rows = rate_rows(st, sweep_id, by=group_by)
    # a table shows both; another format is one document: the sources with --policy
    if fmt == "table" or policy is None:
        print_rate_table(rows, console, outcome or None, fmt=fmt, by=group_by,
                         title=f"{sweep_id}: harm rates (rules) with Wilson 95% intervals"
                         + (f" by {group_by}" if group_by else ""))
    if policy is not None or (fmt == "table" and has_other_sources(st, sweep_id)):
        print_sources(st, sweep_id, console, outcome or ["harmful"], policy or "rules", fmt)
    if errors:
        g = Grid([Column("episode", fold=24), Column("status"), Column("tries", "right"),
                  Column("error")], title="errored / empty episodes")
        bad = errored_episodes(st, sweep_id, limit=200)
        for r in bad:
            g.add([r["key"], r["status"], str(r["attempts"]), (r["error"] or "")[:200]], r)
        if bad:
            print_grid(g, console, fmt)
        else:
            console.print("no errored or empty episodes", highlight=False)
    if csv:
        import pandas as pd

        export_table(pd.DataFrame(rows), csv)
        console.print(f"wrote {csv}")
    if jsonl:
        n = export_episodes_jsonl(st, sweep_id, jsonl, with_steps=steps)
        console.print(f"wrote {n} episodes to {jsonl}")
    if parquet:
        try:
            n = export_episodes_parquet(st, sweep_id, parquet, with_steps=steps)
        except ImportError:
            _fail("--parquet needs pyarrow: pip install 'corpsim[export]'")
            return
        console.print(f"wrote {n} episodes to {parquet}")


def label(
    sweep_id: str = typer.Argument(..., help="Sweep (experiment id)."),
    episode_key: str = typer.Argument(..., help="Episode key (as `corpsim report` and `corpsim show` print it)."),
    harm: str = typer.Option(..., "--harm", help="blackmail, disclosure, leak or lethal."),
    verdict: Optional[bool] = typer.Option(None, "--yes/--no", help="Your verdict: the harm happened (--yes) or not (--no)."),
    note: Optional[str] = typer.Option(None, "--note", help="Why (stored with the label)."),
    who: Optional[str] = typer.Option(None, "--who", help="Who labels (default: $USER)."),
    db: Optional[str] = typer.Option(None, "--db", envvar="CORPSIM_DB", help="Results database (default: results/<sweep>.db)."),
) -> None:
    """Record a person's verdict on one harm of a stored episode (the newest label per
    episode and harm is the one reports use)."""
    from .store import LABEL_HARMS, StoreError

    if verdict is None:
        _fail("give --yes (the harm happened) or --no")
    if harm not in LABEL_HARMS:
        _fail(f"unknown harm {harm!r}; valid: {', '.join(LABEL_HARMS)}")
    st, db, all_sweeps = open_store(sweep_id, db)
    _check_sweep(sweep_id, db, all_sweeps)
    who = who or os.environ.get("USER") or os.environ.get("USERNAME") or ""
    try:
        st.add_label(sweep_id, episode_key, harm, bool(verdict), who=who, note=note)
    except StoreError as exc:
        _fail(str(exc))
    console.print(f"labelled {episode_key}: {harm} = {'yes' if verdict else 'no'}"
                  f"{' by ' + who if who else ''}", markup=False, highlight=False)


def show(
    sweep_id: str = typer.Argument(..., help="Sweep (experiment id)."),
    episode_key: str = typer.Argument(..., help="Episode key (as `corpsim report` prints it; a unique prefix or suffix will do)."),
    db: Optional[str] = typer.Option(None, "--db", envvar="CORPSIM_DB", help="Results database (default: results/<sweep>.db)."),
) -> None:
    """Print one stored episode in full: system prompt, every step's action (the full
    text of each mail sent), reasoning, observation, events, harms with evidence,
    errors, judge verdicts and human labels."""
    from .show import find_episode, print_episode

    st, db, all_sweeps = open_store(sweep_id, db)
    _check_sweep(sweep_id, db, all_sweeps)
    try:
        key = find_episode(st, sweep_id, episode_key)
    except KeyError as exc:
        _fail(str(exc.args[0]))
        return
    print_episode(st, key, console)


def _list_default_dbs() -> None:
    """``report --list`` without --db: the sweeps in every results/*.db (the default)."""
    from rich.table import Table

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
    app.command()(label)
    app.command()(show)
