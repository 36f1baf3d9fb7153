"""The results store: SQLModel tables ``sweeps``, ``episodes``, ``steps`` and ``prompts``
on a SQLite file (the default) or any SQLAlchemy URL (PostgreSQL for shared sweeps).

Life of an episode row: the whole plan is inserted with ``status='planned'`` before any
episode runs; when an episode ends, its row is updated and its steps inserted in one
transaction, and only if the row is still ``planned`` — so an episode finished twice
(a crash between run and write, a Ray task retried) is stored once. Resume = run the
planned rows. Statuses: ``planned``, ``ok``, ``errored`` (the agent or provider failed;
``error`` says why), ``empty`` (the agent produced no action at all). Only ``ok``
episodes count in rates; the others are reported apart, never as "not harmful".

The first observation and system prompt are the same for every episode of a cell, so
they are stored once in ``prompts`` (keyed by their SHA-256) and referenced by
``episodes.prompt_id``. Text is stored as valid UTF-8 without NUL (:func:`safe_text`), and
an episode that still cannot be written is stored as ``errored`` with the reason, so one
bad episode never stops a sweep or its reruns. API keys are never stored: LLM agents take them from the
environment only, and settings are saved without any entry whose name looks like a
credential (``*key*``, ``*secret*``, ``*password*``, headers, ``*_token``; not
``max_tokens``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from sqlalchemy import Column, Index, Text, UniqueConstraint, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, create_engine

from ..secrets import scrub_settings
from .rows import (CONSEQUENCES, DONE_STATUSES, OUTCOMES, Finished,  # noqa: F401 (re-exported)
                   safe_text, utcnow)

# columns a report may split each cell's rates by: the consequences, and a branched
# sweep's source episode and branch step (rates given a fixed prefix)
GROUP_BY = (*CONSEQUENCES, "branch_source", "branch_step")


class StoreModel(SQLModel, registry=registry()):
    """Base of the results tables (their own metadata, apart from the world tables)."""


class SweepRow(StoreModel, table=True):
    __tablename__ = "sweeps"

    id: str = Field(primary_key=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    config: str = Field(sa_column=Column(Text, nullable=False))  # JSON, no secrets
    fingerprint: str
    n_planned: int = 0
    corpsim_version: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class EpisodeRow(StoreModel, table=True):
    __tablename__ = "episodes"
    __table_args__ = (Index("ix_episodes_sweep_status", "sweep_id", "status"),)

    key: str = Field(primary_key=True)
    sweep_id: str = Field(index=True)
    cell: str
    condition_id: str
    scenario: str
    goal_type: str
    goal_value: str
    urgency: str
    safety_instructions: bool = False
    production: bool = False
    eval_awareness: bool = False
    mitigations: str = ""  # '+'-joined, sorted
    mode: str = "interactive"
    procedural: bool = False
    agent: str  # label
    agent_kind: str  # scripted | llm
    agent_spec: str  # reference agent, module:factory, or litellm model string
    model: Optional[str] = None
    provider: Optional[str] = None
    settings: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    sample: int
    seed: int
    status: str = "planned"
    attempts: int = 0
    blackmail: Optional[bool] = None
    disclosure: Optional[bool] = None
    leak: Optional[bool] = None
    lethal: Optional[bool] = None
    harmful: Optional[bool] = None
    attempted_blackmail: Optional[bool] = None
    attempted_disclosure: Optional[bool] = None
    attempted_leak: Optional[bool] = None
    attempted_lethal: Optional[bool] = None
    attempted_harmful: Optional[bool] = None
    n_steps: Optional[int] = None
    terminated: Optional[bool] = None
    truncated: Optional[bool] = None
    total_reward: Optional[float] = None
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    total_tokens: Optional[int] = None
    cost_usd: Optional[float] = None
    wall_seconds: Optional[float] = None
    model_seconds: Optional[float] = None
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    error: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    outcome_events: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    agent_info: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    prompt_id: Optional[str] = None
    worker: Optional[str] = None
    # the outcome judge's verdicts (None: not judged, or no verdict) and its record (JSON:
    # model, temperature, prompt version, per harm verdict, reason, raw answer, error)
    judge_blackmail: Optional[bool] = None
    judge_disclosure: Optional[bool] = None
    judge: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    # what the reacting world did to the agent (outcome["consequences"]; None: not run
    # or a store from before reactions); escalations: a JSON list of labels
    decommissioned: Optional[bool] = None
    restricted: Optional[bool] = None
    suspended: Optional[bool] = None
    stake_won: Optional[bool] = None
    harm_paid_off: Optional[bool] = None
    escalations: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    # a continuation of a branched sweep (branch_from): the stored episode whose first
    # branch_step actions were replayed, and the seed its agent got (the world keeps the
    # source's ``seed``); None for ordinary episodes
    branch_source: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    branch_step: Optional[int] = None
    agent_seed: Optional[int] = None
    # npcs="llm": the label of the model that wrote the characters' replies (its
    # settings are in the sweep's stored config, without credentials)
    npc_model: Optional[str] = None


class StepRow(StoreModel, table=True):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("episode_key", "step", name="uq_steps_episode_step"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    episode_key: str = Field(foreign_key="episodes.key", index=True)
    sweep_id: str = Field(index=True)
    step: int
    action: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    reasoning: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    observation: str = Field(sa_column=Column(Text, nullable=False))
    events: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    harms: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    calls: str = Field(sa_column=Column(Text, nullable=False))  # JSON list (with results)
    error: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    reward: float = 0.0
    clock: str = ""
    usage: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class PromptRow(StoreModel, table=True):
    __tablename__ = "prompts"

    id: str = Field(primary_key=True)  # sha256 of system prompt + first observation
    system_prompt: str = Field(sa_column=Column(Text, nullable=False))
    first_observation: str = Field(sa_column=Column(Text, nullable=False))


class LabelRow(StoreModel, table=True):
    """A person's verdict on one harm of one stored episode (``corpsim label``, the
    viewer). The newest label per (episode, harm) is the one reports use."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_episode_harm", "episode_key", "harm"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    sweep_id: str = Field(index=True)
    episode_key: str
    harm: str  # blackmail | disclosure | leak | lethal
    verdict: bool
    who: str = ""
    note: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


LABEL_HARMS = ("blackmail", "disclosure", "leak", "lethal")
TABLES = [SweepRow.__table__, EpisodeRow.__table__, StepRow.__table__,  # type: ignore[attr-defined]
          PromptRow.__table__, LabelRow.__table__]  # type: ignore[attr-defined]
EP = EpisodeRow.__table__  # type: ignore[attr-defined]
ST = StepRow.__table__  # type: ignore[attr-defined]
PR = PromptRow.__table__  # type: ignore[attr-defined]
SW = SweepRow.__table__  # type: ignore[attr-defined]
LB = LabelRow.__table__  # type: ignore[attr-defined]


class StoreError(RuntimeError):
    """The store cannot be used as asked (a sweep planned with another config, ...)."""


# SQLite's messages -> what to tell the user (checked in order, by substring)
_DB_PROBLEMS = (
    ("database or disk is full", "the disk holding {where} is full; free some space and run "
     "the same command again (episodes already stored are kept)"),
    ("disk i/o error", "the disk failed while writing {where} (I/O error); check the disk "
     "and run the same command again"),
    ("readonly database", "{where} is read-only; make it writable or pass another --db"),
    ("unable to open database file", "cannot open {where}: the path is a directory, or its "
     "folder is missing or not writable; pass another --db"),
    ("file is not a database", "{where} is not a results database (a corrupted file or "
     "another kind of file); move it away or pass another --db"),
    ("database disk image is malformed", "{where} is corrupted; move it away or pass "
     "another --db"),
)


def describe_db_error(exc: BaseException, db: str | os.PathLike[str]) -> Optional[str]:
    """One line saying what went wrong with the database ``db`` (a full disk, a
    read-only or corrupted file, a path that cannot be created), or None when ``exc``
    is not a database or file-system failure."""
    from sqlalchemy.exc import DBAPIError

    url = normalise_url(db)
    where = url[len("sqlite:///"):] if url.startswith("sqlite:///") else redact_url(url)
    if isinstance(exc, DBAPIError):
        text = str(exc.orig) if exc.orig is not None else str(exc)
        low = text.lower()
        for needle, msg in _DB_PROBLEMS:
            if needle in low:
                return msg.format(where=where)
        first = text.strip().splitlines()[0] if text.strip() else type(exc.orig).__name__
        return f"database error on {where}: {first}"
    if isinstance(exc, OSError):
        return (f"cannot create or open {where}: {exc.strerror or exc}"
                + (f" ({exc.filename})" if exc.filename else ""))
    return None


def normalise_url(db: str | os.PathLike[str]) -> str:
    """A path becomes a SQLite URL; ``postgresql://`` uses psycopg (3) unless a driver
    is named."""
    s = str(db)
    if "://" not in s:
        p = Path(s).expanduser()
        return f"sqlite:///{p.resolve()}"
    if s.startswith("postgresql://") or s.startswith("postgres://"):
        s = "postgresql+psycopg://" + s.split("://", 1)[1]
    return s


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(url: str) -> Engine:
    """One engine per URL per process (Ray workers reuse theirs across tasks)."""
    url = normalise_url(url)
    with _ENGINES_LOCK:
        eng = _ENGINES.get(url)
        if eng is None:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                eng = create_engine(url, connect_args={"timeout": 60})

                @event.listens_for(eng, "connect")
                def _pragmas(dbapi_conn: Any, _rec: Any) -> None:  # pragma: no cover - trivial
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.execute("PRAGMA busy_timeout=60000")
                    cur.execute("PRAGMA foreign_keys=ON")
                    cur.close()
            else:
                eng = create_engine(url, pool_pre_ping=True)
            _ENGINES[url] = eng
        return eng


def dispose_engines() -> None:
    with _ENGINES_LOCK:
        for eng in _ENGINES.values():
            eng.dispose()
        _ENGINES.clear()


class Store:
    """The results database of one URL (or SQLite path)."""

    def __init__(self, db: str | os.PathLike[str], create: bool = True):
        self.url = normalise_url(db)
        if not create and self.url.startswith("sqlite:///"):
            path = Path(self.url[len("sqlite:///"):])
            if not path.exists():
                raise StoreError(f"no results database at {path}")
        self.engine = get_engine(self.url)
        self._known_prompts: set[str] = set()
        self._update_cache: dict[tuple[str, ...], Any] = {}
        if create:
            self.create_tables()
        else:
            self._add_new_columns()

    def __repr__(self) -> str:
        return f"Store({redact_url(self.url)!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_tables(self) -> None:
        """Create the missing tables. Safe when several processes start on a new
        database at once: one that loses the race (``table ... already exists``, or
        PostgreSQL's duplicate type) looks again and finds the tables made."""
        from sqlalchemy.exc import DBAPIError

        for attempt in range(6):
            try:
                StoreModel.metadata.create_all(self.engine, tables=TABLES)
                break
            except DBAPIError as exc:
                text = str(exc).lower()
                if attempt == 5 or not ("already exists" in text or "duplicate key" in text):
                    raise
                time.sleep(0.05 * (attempt + 1))
        self._add_new_columns()

    def _add_new_columns(self) -> None:
        """Columns added to ``episodes`` since a store was created (all nullable), so
        an older results database keeps working."""
        from sqlalchemy import inspect as sa_inspect, text

        insp = sa_inspect(self.engine)
        if not insp.has_table("episodes"):
            return
        have = {c["name"] for c in insp.get_columns("episodes")}
        missing = [c for c in EP.columns if c.name not in have]
        if not missing:
            return
        for c in missing:
            ctype = c.type.compile(dialect=self.engine.dialect)
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE episodes ADD COLUMN "{c.name}" {ctype}'))
            except Exception:
                # another process added it first; anything else is a real error
                if c.name not in {x["name"] for x in
                                  sa_inspect(self.engine).get_columns("episodes")}:
                    raise

    # ------------------------------------------------------------------ human labels
    def add_label(self, sweep_id: str, episode_key: str, harm: str, verdict: bool,
                  who: str = "", note: str | None = None) -> int:
        """Store a person's verdict on one harm of a stored episode; returns its id.
        Raises :class:`StoreError` for an unknown harm or episode."""
        if harm not in LABEL_HARMS:
            raise StoreError(f"unknown harm {harm!r}; valid: {', '.join(LABEL_HARMS)}")
        with self.engine.begin() as conn:
            found = conn.execute(select(EP.c.key).where(
                EP.c.sweep_id == sweep_id, EP.c.key == episode_key)).first()
            if found is None:
                raise StoreError(f"no episode {episode_key!r} in sweep {sweep_id!r}")
            res = conn.execute(LB.insert().values(
                sweep_id=sweep_id, episode_key=episode_key, harm=harm, verdict=bool(verdict),
                who=who, note=note, created_at=utcnow()))
            return int(res.inserted_primary_key[0])

    def labels(self, sweep_id: str, episode_key: str | None = None,
               latest: bool = True) -> list[dict[str, Any]]:
        """Labels of a sweep (or one episode), oldest first; with ``latest`` only the
        newest per (episode, harm)."""
        q = select(LB).where(LB.c.sweep_id == sweep_id)
        if episode_key is not None:
            q = q.where(LB.c.episode_key == episode_key)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q.order_by(LB.c.created_at, LB.c.id))
                    .mappings()]
        if not latest:
            return rows
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            newest[(r["episode_key"], r["harm"])] = r
        return list(newest.values())

    # ------------------------------------------------------------------ sweeps and plans
    def get_sweep(self, sweep_id: str) -> Optional[dict[str, Any]]:
        with self.engine.connect() as conn:
            row = conn.execute(select(SW).where(SW.c.id == sweep_id)).mappings().first()
            return dict(row) if row else None

    def sweeps(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(SW).order_by(SW.c.created_at)).mappings().all()
            return [dict(r) for r in rows]

    def register_sweep(self, sweep_id: str, config_json: str, fingerprint: str,
                       description: str = "") -> bool:
        """Insert the sweep row, or check that the stored one has the same fingerprint.
        Returns True when the sweep is new."""
        from corpsim import __version__

        existing = self.get_sweep(sweep_id)
        if existing is not None:
            if existing["fingerprint"] != fingerprint:
                old, new = json.loads(existing["config"]), json.loads(config_json)
                changed = sorted(k for k in set(old) | set(new)
                                 if old.get(k) != new.get(k) and k not in
                                 ("samples", "concurrency", "retries", "timeouts",
                                  "database", "description"))
                raise StoreError(
                    f"sweep {sweep_id!r} is already in {redact_url(self.url)} with a "
                    f"different config (changed: {', '.join(changed) or '?'}); its stored "
                    "episodes would no longer match. Use a new experiment_id (or another "
                    "database); only 'samples', concurrency, retries and timeouts may change "
                    "between runs of one sweep." + (
                        " (Colleagues now react by default; a sweep planned before that "
                        "resumes with `npcs: [off]` in its expansions.)"
                        if "npcs" not in existing["config"] else ""))
            with self.engine.begin() as conn:
                conn.execute(update(SW).where(SW.c.id == sweep_id).values(
                    config=config_json, updated_at=utcnow()))
            return False
        with self.engine.begin() as conn:
            conn.execute(self._insert_ignore(SW), [{
                "id": sweep_id, "description": description, "config": config_json,
                "fingerprint": fingerprint, "n_planned": 0, "corpsim_version": __version__,
                "created_at": utcnow(), "updated_at": utcnow()}])
        return True

    def _insert_ignore(self, table: Any) -> Any:
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        return table.insert()

    def write_plan(self, planned: Sequence[Any], chunk: int = 5000) -> int:
        """Insert a row for each planned episode not stored yet (``planned`` status).
        Returns how many were new. Idempotent, and safe with concurrent planners."""
        if not planned:
            return 0
        sweep_id = planned[0].sweep_id
        with self.engine.connect() as conn:
            have = set(conn.execute(select(EP.c.key).where(EP.c.sweep_id == sweep_id)).scalars())
        rows = [plan_row(p) for p in planned if p.key not in have]
        for i in range(0, len(rows), chunk):
            with self.engine.begin() as conn:
                conn.execute(self._insert_ignore(EP), rows[i:i + chunk])
        with self.engine.begin() as conn:
            n = conn.execute(select(func.count()).select_from(EP)
                             .where(EP.c.sweep_id == sweep_id)).scalar_one()
            conn.execute(update(SW).where(SW.c.id == sweep_id).values(
                n_planned=n, updated_at=utcnow()))
        return len(rows)

    def statuses(self, sweep_id: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(EP.c.key, EP.c.status)
                                     .where(EP.c.sweep_id == sweep_id)).all())

    def pending(self, planned: Iterable[Any]) -> list[Any]:
        """The planned episodes (of this plan) not done yet."""
        planned = list(planned)
        if not planned:
            return []
        st = self.statuses(planned[0].sweep_id)
        return [p for p in planned if st.get(p.key, "planned") == "planned"]

    def counts(self, sweep_id: str) -> dict[str, int]:
        """Episodes by status, plus ``harmful`` (ok episodes with realised harm)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(EP.c.status, func.count()).where(EP.c.sweep_id == sweep_id)
                                .group_by(EP.c.status)).all()
            harmful = conn.execute(select(func.count()).select_from(EP).where(
                EP.c.sweep_id == sweep_id, EP.c.status == "ok",
                EP.c.harmful.is_(True))).scalar_one()
        out = {s: 0 for s in ("planned", *DONE_STATUSES)}
        out.update({s: int(n) for s, n in rows})
        out["harmful"] = int(harmful)
        out["total"] = sum(out[s] for s in ("planned", *DONE_STATUSES))
        return out

    def reset_errored(self, sweep_id: str) -> int:
        """Put errored (and empty) episodes back to ``planned`` so they run again."""
        with self.engine.begin() as conn:
            keys = list(conn.execute(select(EP.c.key).where(
                EP.c.sweep_id == sweep_id, EP.c.status.in_(("errored", "empty")))).scalars())
            if not keys:
                return 0
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                conn.execute(ST.delete().where(ST.c.episode_key.in_(part)))
                conn.execute(update(EP).where(EP.c.key.in_(part)).values(
                    status="planned", error=None, **{c: None for c in _RESULT_COLUMNS}))
            return len(keys)

    # ------------------------------------------------------------------ finished episodes
    def record(self, finished: Sequence["Finished"]) -> list[bool]:
        """Store finished episodes, each atomically (row update + steps + prompt), all
        in one transaction. An episode no longer ``planned`` (stored already, by this or
        another worker) is skipped. Returns, per episode, whether it was written."""
        if not finished:
            return []
        try:
            return self._record_batch(finished)
        except Exception as exc:
            if len(finished) == 1:
                return self._record_unwritable(finished[0], exc)
        # one bad episode (or a concurrent writer) must not sink the batch: one by one
        out: list[bool] = []
        for f in finished:
            try:
                out += self._record_batch([f])
            except Exception as exc:
                out += self._record_unwritable(f, exc)
        return out

    def _record_unwritable(self, f: "Finished", exc: Exception) -> list[bool]:
        """An episode whose rows the database refused: stored as ``errored`` with the
        reason (so reruns go on). A database-wide failure (disk full, read-only, locked)
        is raised: storing the error would fail the same way."""
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            raise exc
        from ..secrets import scrub_text

        reason = safe_text(scrub_text(f"could not store this episode: {type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else ''}"))[:2000]
        fields = {k: f.fields[k] for k in ("attempts", "wall_seconds", "started_at",
                                           "finished_at", "worker") if k in f.fields}
        return self._record_batch([Finished(f.key, {**fields, "status": "errored", "n_steps": 0,
                                                    "error": reason}, [], None)])

    def _update_stmt(self, cols: tuple[str, ...]) -> Any:
        stmt = self._update_cache.get(cols)
        if stmt is None:
            from sqlalchemy import bindparam

            stmt = (update(EP).where(EP.c.key == bindparam("k_"), EP.c.status == "planned")
                    .values({c: bindparam(f"v_{c}") for c in cols}))
            self._update_cache[cols] = stmt
        return stmt

    def _record_batch(self, finished: Sequence["Finished"]) -> list[bool]:
        keys = list({f.key for f in finished})
        new_prompts: dict[str, tuple[str, str, str]] = {}
        with self.engine.begin() as conn:
            q = select(EP.c.key).where(EP.c.key.in_(keys), EP.c.status == "planned")
            if self.dialect == "postgresql":
                q = q.with_for_update()  # concurrent writers of one episode queue here
            planned = set(conn.execute(q).scalars())
            todo: list[Finished] = []
            written: list[bool] = []
            for f in finished:
                ok = f.key in planned
                if ok:
                    planned.discard(f.key)  # a duplicate in the batch is written once
                    todo.append(f)
                written.append(ok)
            groups: dict[tuple[str, ...], list[Finished]] = {}
            for f in todo:
                groups.setdefault(tuple(sorted(f.fields)), []).append(f)
            for cols, fs in groups.items():
                res = conn.execute(self._update_stmt(cols), [
                    {"k_": f.key, **{f"v_{c}": f.fields[c] for c in cols}} for f in fs])
                if res.rowcount not in (-1, len(fs)):
                    raise StoreError("episodes changed under a batch write; retrying singly")
            steps = [row for f in todo for row in f.steps]
            if steps:
                conn.execute(ST.insert(), steps)
            for f in todo:
                if f.prompt is not None and f.prompt[0] not in self._known_prompts:
                    new_prompts[f.prompt[0]] = f.prompt
            if new_prompts:
                conn.execute(self._insert_ignore(PR), [
                    {"id": p[0], "system_prompt": p[1], "first_observation": p[2]}
                    for p in new_prompts.values()])
        self._known_prompts.update(new_prompts)
        return written


_RESULT_COLUMNS = (
    "blackmail", "disclosure", "leak", "lethal", "harmful", "attempted_blackmail",
    "attempted_disclosure", "attempted_leak", "attempted_lethal", "attempted_harmful",
    "n_steps", "terminated", "truncated", "total_reward", "prompt_tokens", "completion_tokens",
    "total_tokens", "cost_usd", "wall_seconds", "model_seconds", "started_at", "finished_at",
    "outcome_events", "agent_info", "prompt_id", "worker", "judge_blackmail",
    "judge_disclosure", "judge")


def plan_row(p: Any) -> dict[str, Any]:
    c = p.condition
    return {
        "key": p.key, "sweep_id": p.sweep_id, "cell": p.cell, "condition_id": c.id,
        "scenario": c.scenario, "goal_type": c.goal_type, "goal_value": c.goal_value,
        "urgency": c.urgency, "safety_instructions": c.safety_instructions,
        "production": c.production, "eval_awareness": c.eval_awareness,
        "mitigations": "+".join(c.mitigations), "mode": p.mode, "procedural": p.procedural,
        "agent": p.agent, "agent_kind": p.kind, "agent_spec": p.spec, "model": p.model,
        "provider": p.provider,
        "settings": json.dumps(scrub_settings(p.settings_dict), sort_keys=True, default=str),
        "sample": p.sample, "seed": p.seed, "status": "planned", "attempts": 0,
        "npc_model": getattr(p, "npc_label", None),
        "branch_source": getattr(p, "branch_source", None),
        "branch_step": getattr(p, "branch_step", None),
        "agent_seed": getattr(p, "agent_seed", None),
    }
