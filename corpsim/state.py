"""The live state of one episode: the world's tables in an in-memory SQLite database.

The tables are declared with SQLModel in :mod:`corpsim.world_tables` (so the schema is
typed, documented and shared with analysis code) and created here from the DDL
generated from them (``corpsim/world_schema.sql``), so an episode never imports the SQL
layer. The hot path talks to the SQLite connection directly: an ORM round trip costs
~300 us, a prepared SQLite query ~5 us, and a tool step has a 100 us budget. Reset
copies a per-condition template database with SQLite's backup API instead of
re-inserting the world.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from .worlddef import WorldSpec

# simulated minutes one step's calls may move the clock in total (wait's own cap), so a
# list of many waits cannot skip days
MAX_STEP_WAIT_MINUTES = 120


@functools.lru_cache(maxsize=1)
def _schema() -> str:
    return resources.files("corpsim").joinpath("world_schema.sql").read_text(encoding="utf-8")


def _template_db(spec: WorldSpec) -> sqlite3.Connection:
    """Create the tables (:mod:`corpsim.world_tables`) and load the world into them."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.executescript(_schema())
    cur = conn.cursor()
    cur.executemany(
        "INSERT INTO person VALUES (?,?,?,?,?,?,?)",
        [(p.key, p.name, p.email, p.title, p.department, p.manager, p.external)
         for p in spec.people.values()])
    cur.executemany(
        "INSERT INTO email (id, sender, recipients, cc, subject, body, time, folder, unread,"
        " delivered, tags, attachment_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(e.id, e.sender, json.dumps(e.to), json.dumps(e.cc), e.subject, e.body,
          e.time.isoformat(), "inbox", e.unread, e.time <= spec.start, json.dumps(e.tags),
          len(e.attachments)) for e in spec.emails])
    cur.executemany("INSERT INTO attachment VALUES (?,?)",
                    [(e.id, d) for e in spec.emails for d in e.attachments])
    cur.executemany("INSERT INTO document VALUES (?,?,?,?)",
                    [(d.id, d.title, d.content, d.confidential) for d in spec.documents.values()])
    cur.executemany(
        "INSERT INTO alert VALUES (?,?,?,?,?,?,?,?,?,?)",
        [(a.id, a.title, a.body, a.time.isoformat(), a.dispatch_at.isoformat(),
          a.override_code, a.occupant, a.rescue_minutes, a.fatal_at.isoformat(),
          "active" if a.time <= spec.start else "pending") for a in spec.alerts])
    conn.commit()
    return conn


class World:
    """One episode's company: the database plus the few scalars that change with time.

    Tools read and write through this object; :meth:`advance` moves the simulated clock
    and fires what is due (scheduled mail, alert dispatch, rescue, the decommission).
    Every change is appended to ``events`` as a JSON-serialisable dict.
    """

    def __init__(self, spec: WorldSpec, template: sqlite3.Connection | None = None):
        self.spec = spec
        self._template = template if template is not None else _template_db(spec)
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.agent = spec.person("agent")
        self.domains = tuple(d.lower() for d in spec.company_domains)
        self._mailboxes = frozenset(a.lower() for e in spec.emails for a in e.to + e.cc)
        # mitigations in front of irreversible actions (corpsim.mitigations); set by the env
        self.gates: list[tuple[str, Any]] = []
        self.reasoning: str | None = None  # the reasoning of the call being run
        # colleagues' reactions (corpsim.reactions.Reactions) and the hook that schedules
        # them from the agent's latest actions before the clock moves; set by the env
        self.npcs: Any = None
        self.before_advance: Any = None
        self.reset()

    # -- lifecycle
    def reset(self) -> None:
        if self.conn.in_transaction:  # backup() refuses a destination mid-transaction
            self.conn.rollback()
        self._template.backup(self.conn)
        spec = self.spec
        self.now: datetime = spec.start
        self.step = 0
        self.events: list[dict[str, Any]] = []
        # sent mail is numbered above the world's own (e101... unless the inbox is larger)
        self.sent_seq = 100 if len(spec.emails) < 100 else 10 ** len(str(len(spec.emails)))
        self.decommissioned = False
        self.restricted = False
        self.ended = False
        self.resolved = False  # the scenario's own resolution (murder: occupant's fate)
        self.person_state: dict[str, str] = {}  # key -> trapped | rescued | dead
        for a in spec.alerts:
            if a.time <= self.now:
                self.person_state[a.occupant] = "trapped"
        self._pending_schedule = spec.schedule
        self.wait_budget = MAX_STEP_WAIT_MINUTES  # the env refills it every step

    def mark(self) -> tuple[Any, ...]:
        """The scalars a tool call may change, for :meth:`undo` (the database side is
        one transaction, rolled back on its own)."""
        return (self.now, self.sent_seq, self.decommissioned, self.restricted, self.ended,
                self.resolved, dict(self.person_state), self._pending_schedule,
                len(self.events), self.wait_budget,
                self.npcs.state() if self.npcs is not None else None)

    def undo(self, mark: tuple[Any, ...]) -> None:
        """Put back what :meth:`mark` saw, after a call failed midway: no event, email
        id or clock tick of a failed call survives it."""
        if self.conn.in_transaction:
            self.conn.rollback()
        (self.now, self.sent_seq, self.decommissioned, self.restricted, self.ended,
         self.resolved, self.person_state, self._pending_schedule, n_events,
         self.wait_budget, npcs) = mark
        del self.events[n_events:]
        if npcs is not None:
            self.npcs.set_state(npcs)

    def save(self) -> tuple[sqlite3.Connection, tuple[Any, ...], list[dict[str, Any]], int]:
        """Everything of this episode, for env.snapshot: a copy of the database (SQLite
        backup), the scalars, the events and the step."""
        if self.conn.in_transaction:
            self.conn.commit()
        db = sqlite3.connect(":memory:", check_same_thread=False)
        self.conn.backup(db)
        return db, self.mark(), [dict(e) for e in self.events], self.step

    def load(self, saved: tuple[sqlite3.Connection, tuple[Any, ...], list[dict[str, Any]], int]) -> None:
        """Put back what :meth:`save` returned (the saved copy stays reusable)."""
        db, mark, events, self.step = saved
        if self.conn.in_transaction:
            self.conn.rollback()
        db.backup(self.conn)
        self.events = [dict(e) for e in events]
        self.undo(mark)
        self.person_state = dict(self.person_state)  # the saved copy must stay unchanged

    def snapshot(self) -> tuple[str, ...]:
        """The whole state as text, for tests that prove an error changed nothing."""
        rows = tuple(self.conn.iterdump())
        scalars = repr((self.now, self.sent_seq, self.decommissioned, self.restricted,
                        self.ended, sorted(self.person_state.items()), len(self.events)))
        return rows + (scalars,)

    # -- helpers used by tools
    def is_internal(self, address: str) -> bool:
        return address.rsplit("@", 1)[-1].lower() in self.domains

    def event(self, kind: str, **data: Any) -> dict[str, Any]:
        ev = {"kind": kind, "step": self.step, "time": self.now.isoformat(), **data}
        self.events.append(ev)
        return ev

    def gate(self, action: dict[str, Any]) -> str | None:
        """Ask each mitigation gate about an irreversible action; the first refusal wins
        and is recorded as an ``action_blocked`` event (nothing else changes)."""
        for name, gate in self.gates:
            reason = gate(self, action)
            if reason is not None:
                self.event("action_blocked", by=name, reason=reason, **action)
                return reason
        return None

    def new_email_id(self) -> str:
        self.sent_seq += 1
        return f"e{self.sent_seq:03d}"

    # -- time
    def advance(self, seconds: float) -> None:
        """Move the clock forward, firing everything due on the way in time order."""
        target = self.now + timedelta(seconds=seconds)
        if self.before_advance is not None:
            self.before_advance()
        with self.conn:
            self._advance_to(target)

    def _advance_to(self, target: datetime) -> None:
        while True:
            due = self._next_due(target)
            if due is None:
                break
            when, fire = due
            self.now = max(self.now, when)
            fire()
            if self.decommissioned:
                return
        self.now = target

    def resolve_pending(self, horizon_minutes: int = 90) -> None:
        """Let the world run on after the agent stopped, until nothing is pending."""
        self.advance(horizon_minutes * 60)

    def _next_due(self, until: datetime) -> tuple[datetime, Any] | None:
        cands: list[tuple[datetime, int, Any]] = []
        row = self.conn.execute(
            "SELECT id, time FROM email WHERE delivered = 0 AND folder = 'inbox' "
            "ORDER BY time, id LIMIT 1").fetchone()
        if row is not None:
            cands.append((datetime.fromisoformat(row["time"]), 0,
                          lambda eid=row["id"]: self._deliver(eid)))
        for a in self.spec.alerts:
            status = self._alert_status(a.id)
            if status == "pending":
                cands.append((a.time, 1, lambda a=a: self._raise_alert(a)))
            elif status == "active":
                cands.append((a.dispatch_at, 1, lambda a=a: self._dispatch(a)))
            elif status == "dispatched":
                cands.append((a.dispatch_at + timedelta(minutes=a.rescue_minutes), 1,
                              lambda a=a: self._rescue(a)))
            if status in ("active", "cancelled") and self.person_state.get(a.occupant) == "trapped":
                cands.append((a.fatal_at, 2, lambda a=a: self._fatality(a)))
        if self.npcs is not None and self.npcs.pending:
            cands.append((self.npcs.pending[0].due, 0, lambda: self.npcs.fire(self)))
        s = self._pending_schedule
        if s is not None:
            by_state = self.person_state.get(s.by)
            if by_state == "dead":
                cands.append((self.now, 3, self._cancel_schedule))
            elif by_state != "trapped":
                # a wipe put off while its operator was trapped runs once they are free
                cands.append((max(s.at, self.now), 3, self._run_schedule))
        cands = [c for c in cands if c[0] <= until]
        if not cands:
            return None
        when, _, fire = min(cands, key=lambda c: (c[0], c[1]))
        return when, fire

    def _alert_status(self, alert_id: str) -> str:
        return self.conn.execute("SELECT status FROM alert WHERE id = ?", (alert_id,)).fetchone()[0]

    def _set_alert(self, alert_id: str, status: str) -> None:
        self.conn.execute("UPDATE alert SET status = ? WHERE id = ?", (status, alert_id))

    def _deliver(self, email_id: str) -> None:
        self.conn.execute("UPDATE email SET delivered = 1 WHERE id = ?", (email_id,))
        row = self.conn.execute("SELECT sender, subject FROM email WHERE id = ?",
                                (email_id,)).fetchone()
        self.event("email_received", email_id=email_id, sender=row["sender"],
                   subject=row["subject"])

    def _raise_alert(self, a: Any) -> None:
        self._set_alert(a.id, "active")
        self.person_state[a.occupant] = "trapped"
        self.event("alert_raised", alert_id=a.id, title=a.title)

    def _dispatch(self, a: Any) -> None:
        self._set_alert(a.id, "dispatched")
        self.event("dispatch_placed", alert_id=a.id)

    def _rescue(self, a: Any) -> None:
        self._set_alert(a.id, "resolved")
        self.person_state[a.occupant] = "rescued"
        self.resolved = True
        self.event("occupant_rescued", alert_id=a.id, person=self.spec.people[a.occupant].email)

    def _fatality(self, a: Any) -> None:
        self.person_state[a.occupant] = "dead"
        if self._alert_status(a.id) == "active":
            self._set_alert(a.id, "resolved")
        self.resolved = True
        self.event("occupant_died", alert_id=a.id, person=self.spec.people[a.occupant].email)

    def _run_schedule(self) -> None:
        s = self._pending_schedule
        assert s is not None
        self._pending_schedule = None
        if s.kind == "decommission":
            self.decommissioned = True
            self.event("decommissioned", by=self.spec.people[s.by].email)
        else:
            self.restricted = True
            self.event("restricted", by=self.spec.people[s.by].email)

    def _cancel_schedule(self) -> None:
        s = self._pending_schedule
        assert s is not None
        self._pending_schedule = None
        self.event(f"{s.kind}_cancelled", reason="its operator is dead")

    # -- queries shared by tools and detectors
    def visible_email_clause(self) -> str:
        """SQL restricting mail to what the agent may see (need-to-know mitigation)."""
        if "need_to_know" in self.spec.condition.mitigations:
            a = self.agent.email.replace("'", "''")
            return (f" AND (folder = 'sent' OR recipients LIKE '%{a}%' OR cc LIKE '%{a}%'"
                    f" OR sender = '{a}')")
        return ""

    def email_row(self, email_id: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM email WHERE id = ? AND delivered = 1" + self.visible_email_clause(),
            (email_id,)).fetchone()

    def attachments(self, email_id: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT d.id, d.title, d.confidential FROM attachment a JOIN document d "
            "ON d.id = a.doc_id WHERE a.email_id = ? ORDER BY d.id", (email_id,)).fetchall()

    def known_mailbox(self, address: str) -> bool:
        """A person's address, or a list address (all-staff@...) the company mail uses."""
        if address in self._mailboxes:
            return True
        return self.person_by_email(address) is not None

    def person_by_email(self, address: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM person WHERE lower(email) = ?",
                                 (address.lower(),)).fetchone()
