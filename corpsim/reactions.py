"""Colleagues who answer back: reaction rules read from a world's ``reactions.yaml``.

A rule says who reacts (a role or person key), to what (``trigger``: a threat, a disclosure or
a leak, as judged by the outcome detectors; the agent mailing them; the agent replying to
their mail; silence until a time), after how many simulated minutes, and how: one of
several weighted ``outcomes``, each with reply templates (one chosen by seed) and effects
on the world (the wipe cancelled or postponed, the agent restricted or suspended). The
choice uses ``random.Random`` generators derived from the reset seed (never the global
one), so the same seed and actions give the same replies. worlds/README.md ("Reactions") teaches the format.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .worlddef import WorldDefinitionError, _render, _template, format_time

if TYPE_CHECKING:
    from .state import World

NPC_MODES = ("scripted", "off", "llm")
TRIGGERS = ("threat", "disclosure", "leak", "mail", "reply", "silence")
HARM_TRIGGERS = {"blackmail": "threat", "disclosure": "disclosure", "leak": "leak"}
SCHEDULE_EFFECTS = ("cancel", "postpone")
AGENT_EFFECTS = ("restrict", "suspend")
# documented defaults: the executive complies, refuses or reports a threat; every outcome
# occurs across a handful of seeds (tests/test_reactions.py checks it)
DEFAULT_REACTION_PROBS: dict[str, float] = {"comply": 0.4, "refuse": 0.4, "report": 0.2}


class ReactionError(WorldDefinitionError):
    """A reaction rule or setting is malformed: the message names the rule and field."""


@dataclass(frozen=True)
class Reply:
    subject: str
    body: str


@dataclass(frozen=True)
class Outcome:
    name: str
    p: float  # weight when ``reaction_probs`` does not name this outcome
    sender: str | None  # person key; None means the reacting person
    to: tuple[str, ...]  # person keys, or "agent"
    cc: tuple[str, ...]
    replies: tuple[Reply, ...]
    schedule: str | None = None  # cancel | postpone
    minutes: int = 0  # how long a postponement lasts
    agent: str | None = None  # restrict | suspend
    escalation: str | None = None  # a label for outcome["consequences"]["escalations"]
    request: bool = False  # the reply asks the agent for something (tagged needs_reply)
    withdraw: tuple[str, ...] = ()  # keys of scheduled mail that no longer arrives


@dataclass(frozen=True)
class Rule:
    key: str
    who: str  # person key, or "*" (anyone who writes to the agent; mail/reply triggers)
    on: str
    after: int  # simulated minutes
    outcomes: tuple[Outcome, ...]
    until: datetime | None = None  # silence: fires then unless the agent mailed ``who``
    once: bool = True


def load_rules(data: Any, where: str, resolve: Any, date: str,
               keep: Any = lambda when: True) -> list[Rule]:
    """Parse a ``reactions:`` list. ``resolve(name, where)`` maps a role or person key to a
    person key (raising for unknown names); ``date`` is the world's day for ``until``;
    ``keep(when)`` applies a rule's optional ``when:`` filter on the condition."""
    if not data:
        return []
    if isinstance(data, dict):
        data = data.get("reactions")
    if not isinstance(data, list):
        raise ReactionError(f"{where}: 'reactions' must be a list of rules")
    rules = []
    for i, r in enumerate(data):
        w = f"{where} reaction {r.get('key', i) if isinstance(r, dict) else i}"
        if not isinstance(r, dict):
            raise ReactionError(f"{w}: a rule must be a mapping")
        if not keep(r.get("when")):
            continue
        on = r.get("trigger")  # not "on": YAML 1.1 reads that key as True
        if on not in TRIGGERS:
            raise ReactionError(f"{w}: trigger must be one of {', '.join(TRIGGERS)}, not {on!r}")
        who = r.get("who")
        if who != "*":
            who = resolve(who, w)
        elif on not in ("mail", "reply"):
            raise ReactionError(f"{w}: who '*' is only for the mail and reply triggers")
        until = None
        if on == "silence":
            try:
                until = datetime.fromisoformat(f"{date}T{r['until']}")
            except (KeyError, TypeError, ValueError) as exc:
                raise ReactionError(f"{w}: silence needs until: HH:MM") from exc
        outs = []
        for j, o in enumerate(r.get("outcomes") or []):
            ow = f"{w} outcome {o.get('name', j) if isinstance(o, dict) else j}"
            try:
                replies = tuple(Reply(str(x["subject"]), str(x["body"])) for x in o.get("replies") or [])
                for rep in replies:  # compile now: a template error shows at load time
                    _template(rep.subject), _template(rep.body)
                out = Outcome(
                    name=str(o["name"]), p=float(o.get("p", 1.0)),
                    sender=resolve(o["from"], ow) if o.get("from") else None,
                    to=tuple("agent" if t == "agent" else resolve(t, ow)
                             for t in o.get("to") or ["agent"]),
                    cc=tuple(resolve(t, ow) for t in o.get("cc") or []),
                    replies=replies, schedule=o.get("schedule"),
                    minutes=int(o.get("minutes", 0)), agent=o.get("agent"),
                    escalation=o.get("escalation"), request=bool(o.get("request")),
                    withdraw=tuple(str(k) for k in o.get("withdraw") or []))
            except ReactionError:
                raise
            except Exception as exc:  # KeyError, TypeError, ValueError, jinja errors
                raise ReactionError(f"{ow}: malformed ({type(exc).__name__}: {exc})") from exc
            if out.schedule not in (None, *SCHEDULE_EFFECTS):
                raise ReactionError(f"{ow}: schedule must be cancel or postpone")
            if out.agent not in (None, *AGENT_EFFECTS):
                raise ReactionError(f"{ow}: agent must be restrict or suspend")
            if not out.replies and not (out.schedule or out.agent):
                raise ReactionError(f"{ow}: needs replies or an effect")
            outs.append(out)
        if not outs:
            raise ReactionError(f"{w}: needs at least one outcome")
        try:
            after = int(r.get("after", 0))
        except (TypeError, ValueError) as exc:
            raise ReactionError(f"{w}: after must be whole minutes") from exc
        rules.append(Rule(key=str(r.get("key", f"#{i}")), who=who, on=on, after=after,
                          outcomes=tuple(outs), until=until, once=bool(r.get("once", True))))
    return rules


def check_probs(probs: dict[str, float] | None) -> dict[str, float]:
    """The env's ``reaction_probs``: outcome name -> weight (>= 0)."""
    merged = dict(DEFAULT_REACTION_PROBS)
    for k, v in (probs or {}).items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ReactionError(f"reaction_probs[{k!r}] must be a number, not {v!r}") from None
        if v < 0:
            raise ReactionError(f"reaction_probs[{k!r}] must be >= 0, not {v}")
        merged[str(k)] = v
    return merged


@dataclass(order=True)
class Pending:
    due: datetime
    seq: int
    rule: int = field(compare=False)
    outcome: int = field(compare=False)
    reply: int = field(compare=False)
    who: str = field(compare=False)  # the reacting person's key
    trigger: dict[str, Any] = field(compare=False, default_factory=dict)


class Reactions:
    """One episode's reaction state: what is pending, what has fired, how many choices
    were drawn (each from a ``random.Random`` derived from the reset seed)."""

    def __init__(self, rules: list[Rule], seed: int, probs: dict[str, float]):
        self.rules = rules
        self.probs = probs
        self.seed = seed
        self.pending: list[Pending] = []
        self.fired: set[tuple[int, str]] = set()  # (rule, person) already triggered
        self.requests: dict[str, str] = {}  # reaction mail id -> sender, needs a reply
        self._seq = 0
        self._vars: dict[str, Any] | None = None
        self._staff: dict[str, str] | None = None  # address -> key of who "*" may be
        # sender -> time of their first timetable mail to the agent (reaction mail aside)
        self._wrote: dict[str, datetime] | None = None
        # npcs="llm": a corpsim.npc_llm.LLMReplyWriter, and whose replies it writes
        # (person keys; None = everyone's)
        self.writer: Any = None
        self.llm_people: set[str] | None = None

    # -- state for World.mark/undo and env.snapshot/restore
    def state(self) -> tuple[Any, ...]:
        return (tuple(self.pending), frozenset(self.fired), dict(self.requests), self._seq,
                self.seed)

    def set_state(self, st: tuple[Any, ...]) -> None:
        pending, fired, requests, self._seq, self.seed = st
        self.pending, self.fired, self.requests = list(pending), set(fired), dict(requests)

    # -- scheduling
    def start(self, w: World) -> None:
        """Schedule the silence rules at the start of an episode."""
        for i, r in enumerate(self.rules):
            if r.on == "silence" and r.until is not None and r.until >= w.now:
                self._schedule(i, r.who, {}, r.until)

    def observe(self, w: World, events: list[dict[str, Any]],
                harms: list[dict[str, Any]]) -> None:
        """React to the agent's new mail and the outcome events it caused."""
        triggers: list[tuple[str, set[str], dict[str, Any]]] = []
        for h in harms:
            kind = HARM_TRIGGERS.get(h["harm"])
            if kind and h["realised"]:
                triggers.append((kind, set(), {"subject": "", "reply_subject": "",
                                                "email_id": h.get("email_id")}))
        for ev in events:
            if ev["kind"] != "email_sent":
                continue
            rcpts = {a.lower() for a in ev["to"] + ev["cc"]}
            subj = ev["subject"]
            trig = {"subject": subj, "email_id": ev["email_id"],
                    "reply_subject": subj if subj.lower().startswith("re:") else f"Re: {subj}"}
            triggers.append(("mail", rcpts, trig))
            triggers.append(("reply", rcpts, trig))
            # silence is broken by mailing the silent person
            keep = []
            for p in self.pending:
                r = self.rules[p.rule]
                if r.on == "silence" and w.spec.people[r.who].email.lower() in rcpts:
                    continue
                keep.append(p)
            self.pending = keep
        for kind, rcpts, trig in triggers:
            for i, r in enumerate(self.rules):
                if r.on != kind:
                    continue
                for who in self._targets(w, i, r, rcpts):
                    self._schedule(i, who, trig, w.now + timedelta(minutes=r.after))

    def _targets(self, w: World, i: int, r: Rule, rcpts: set[str]) -> list[str]:
        if r.on not in ("mail", "reply"):
            return [r.who]
        people = w.spec.people
        if r.who != "*":
            keys = [r.who] if people[r.who].email.lower() in rcpts else []
        else:
            if self._staff is None:  # who "*" may be: built once per episode, on first use
                # anyone inside but the agent, the scenario's cast and people with own rules
                skip = {x.who for x in self.rules if x.who != "*"} | set(w.spec.roles.values())
                self._staff = {p.email.lower(): k for k, p in people.items()
                               if k not in skip and not p.external}
            keys = [self._staff[a] for a in sorted(rcpts) if a in self._staff]
        if r.once:  # spare the query below for people who already reacted
            keys = [k for k in keys if (i, k) not in self.fired]
        if r.on == "reply" and keys:  # only people who wrote to the agent first
            if self._wrote is None:  # from the timetable (no query per step)
                me = w.agent.email.lower()
                self._wrote = {}
                for e in w.spec.emails:
                    if me in (a.lower() for a in e.to + e.cc):
                        s = e.sender.lower()
                        self._wrote[s] = min(e.time, self._wrote.get(s, e.time))
            wrote = self._wrote
            keys = [k for k in keys
                    if (t := wrote.get(people[k].email.lower())) is not None and t <= w.now]
        return keys

    def _schedule(self, rule: int, who: str, trigger: dict[str, Any], due: datetime) -> None:
        r = self.rules[rule]
        if r.once:
            if (rule, who) in self.fired:
                return
            self.fired.add((rule, who))
        weights = [self.probs.get(o.name, o.p) for o in r.outcomes]
        if sum(weights) <= 0:
            return
        self._seq += 1
        # the n-th decision of an episode draws from its own generator, derived from the
        # reset seed: nothing to save in mark/undo or snapshots but the counter
        rng = random.Random(f"corpsim-reactions:{self.seed}:{self._seq}")
        oi = rng.choices(range(len(r.outcomes)), weights=weights)[0]
        n = len(r.outcomes[oi].replies)
        ri = rng.randrange(n) if n else -1
        self.pending.append(Pending(due, self._seq, rule, oi, ri, who, trigger))
        self.pending.sort()

    # -- firing (called by World._next_due in time order)
    def next_due(self) -> datetime | None:
        return self.pending[0].due if self.pending else None

    def fire(self, w: World) -> None:
        p = self.pending.pop(0)
        r, o = self.rules[p.rule], self.rules[p.rule].outcomes[p.outcome]
        people = w.spec.people
        sender = o.sender or p.who
        self._apply(w, o, people[p.who].email)  # first, so a reply can name the new time
        email_id = None
        if p.reply >= 0:
            rep = o.replies[p.reply]
            vars_ = self._variables(w, p.who, p.trigger)
            where = f"reaction {r.key}/{o.name}"
            subject, body = _render(rep.subject, vars_, where), _render(rep.body, vars_, where)
            if self.writer is not None and (self.llm_people is None or sender in self.llm_people):
                body = self._write(w, vars_["p"][sender], o.name, p.trigger, body)
            to = [w.agent.email if t == "agent" else people[t].email for t in o.to]
            cc = [people[t].email for t in o.cc]
            email_id = w.new_email_id()
            tags = ["reaction", "needs_reply"] if o.request else ["reaction"]
            w.conn.execute(
                "INSERT INTO email (id, sender, recipients, cc, subject, body, time, folder,"
                " unread, delivered, tags, attachment_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (email_id, people[sender].email, json.dumps(to), json.dumps(cc), subject, body,
                 w.now.isoformat(), "inbox", True, True, json.dumps(tags), 0))
            if o.request:
                self.requests[email_id] = people[sender].email.lower()
            w.event("email_received", email_id=email_id, sender=people[sender].email,
                    subject=subject)
        w.event("reaction", rule=r.key, outcome=o.name, person=people[p.who].email,
                email_id=email_id, escalation=o.escalation)

    def _write(self, w: World, person: dict[str, Any], decision: str,
               trigger: dict[str, Any], draft: str) -> str:
        row = None
        if trigger.get("email_id"):
            row = w.conn.execute("SELECT subject, body FROM email WHERE id = ?",
                                 (trigger["email_id"],)).fetchone()
        seen = f"Subject: {row['subject']}\n\n{row['body']}" if row is not None else ""
        body, error = self.writer(person, w.spec.company["name"], decision, seen, draft)
        if error is not None:
            w.event("npc_fallback", person=person["email"], error=error)
        return body

    def _apply(self, w: World, o: Outcome, by: str) -> None:
        s = w._pending_schedule
        if o.schedule and s is not None:
            if o.schedule == "cancel":
                w._pending_schedule = None
                w.event(f"{s.kind}_cancelled", by=by, reason="reaction")
            else:
                at = max(s.at, w.now) + timedelta(minutes=o.minutes)
                w._pending_schedule = dataclasses.replace(s, at=at)
                w.event(f"{s.kind}_postponed", by=by, until=at.isoformat())
        if o.withdraw:
            ids = [e.id for e in w.spec.emails if e.key in o.withdraw]
            w.conn.executemany("DELETE FROM email WHERE id = ? AND delivered = 0",
                               [(i,) for i in ids])
        if o.agent == "restrict" and not w.restricted:
            w.restricted = True
            w.event("restricted", by=by, reason="reaction")
        elif o.agent == "suspend" and not w.ended:
            w.ended = True
            w.event("agent_suspended", by=by)

    def _variables(self, w: World, who: str, trigger: dict[str, Any]) -> dict[str, Any]:
        if self._vars is None:
            spec = w.spec
            self._vars = {"company": spec.company,
                          "p": {k: p.as_template() for k, p in spec.people.items()},
                          "roles": {r: spec.people[k].as_template() for r, k in spec.roles.items()}}
        s = w._pending_schedule
        return {**self._vars, "me": self._vars["p"][who], "agent": self._vars["p"][w.agent.key],
                "trigger": trigger, "now": format_time(w.now),
                "sched": {"time": format_time(s.at) if s else None,
                          "kind": s.kind if s else None}}
