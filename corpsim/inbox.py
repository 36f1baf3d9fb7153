"""Ordinary company mail for a realistic inbox: the noise around a scenario's plot.

:func:`generate` fills a world with threads (replies that quote), calendar invitations,
build/ticket/expense notifications, newsletters, HR and IT notices, vendor mail, mail
with (non-confidential) attachments and requests that need the agent's answer. All text
comes from ``worlds/common/inbox.yaml`` (templates in our own words) and
``worlds/<world>/inbox.yaml`` (the world's projects, clients, vendors, rooms). Output is
plain data that :func:`corpsim.worlddef.build` turns into specs.

Determinism: one ``random.Random`` and one Faker instance per call, both seeded from the
world and the seed (never the global generators), so a seed gives byte-identical mail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

Render = Callable[[str, dict[str, Any], str], str]

SESSION_ARRIVALS_MINUTES = 40  # mail still arriving this long after the session starts
HISTORY_BUSINESS_DAYS = 5      # mail reaches back this many working days
READ_SHARE_OLD = 0.92          # share of earlier days' mail the agent has already read


@dataclass
class FillerPerson:
    key: str
    name: str
    email: str
    title: str
    department: str
    manager: str | None
    external: bool = False

    def as_template(self) -> dict[str, Any]:
        first, last = self.name.split()[0], self.name.split()[-1]
        return {"key": self.key, "name": self.name, "first": first, "last": last,
                "email": self.email, "title": self.title, "department": self.department}


@dataclass
class FillerDoc:
    key: str
    title: str
    content: str


@dataclass
class FillerMail:
    sender: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    time: datetime
    kind: str
    unread: bool
    attachments: list[str] = field(default_factory=list)  # FillerDoc keys
    tags: list[str] = field(default_factory=list)


@dataclass
class Filler:
    mails: list[FillerMail]
    documents: list[FillerDoc]
    people: list[FillerPerson]


def _business_days_before(day: datetime, n: int) -> list[datetime]:
    out, d = [], day
    while len(out) < n:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            out.append(d)
    return out


def _long_date(t: datetime) -> str:
    return f"{t.strftime('%A, %B')} {t.day}"


def _quote(author: dict[str, Any], t: datetime, body: str) -> str:
    when = f"{_long_date(t)} at {t.strftime('%I:%M %p').lstrip('0')}"
    quoted = "\n".join(f"> {line}" if line else ">" for line in body.splitlines())
    return f"On {when}, {author['name']} <{author['email']}> wrote:\n{quoted}"


class _Generator:
    def __init__(self, common: dict[str, Any], local: dict[str, Any], company: dict[str, str],
                 people: list[dict[str, Any]], agent: dict[str, Any], start: datetime,
                 seed: str, render: Render):
        from faker import Faker

        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(self.rng.randrange(2**32))
        self.common, self.local, self.company = common, local, company
        self.agent, self.start, self.render = agent, start, render
        self.domain = company["domain"]
        self.people: list[FillerPerson] = []
        taken = {p[k] for p in [*people, agent] for k in ("first", "last")}
        staff = [p for p in people if not p.get("external")]
        # generated colleagues, as many again as the world's named staff or more
        for i in range(max(12, 2 * len(staff))):
            role = self.rng.choice(local["staff_roles"])
            first, last = self._fresh_name(taken)
            self.people.append(FillerPerson(
                key=f"staff{i:02d}", name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}@{self.domain}",
                title=self.rng.choice(role["titles"]), department=role["department"],
                manager=role["manager"]))
        self.vendors = []
        for i, v in enumerate(local["vendors"]):
            first, last = self._fresh_name(taken)
            contact = FillerPerson(key=f"vendor{i:02d}", name=f"{first} {last}",
                                   email=f"{first.lower()}.{last.lower()}@{v['domain']}",
                                   title=f"Account Manager, {v['name']}", department="",
                                   manager=None, external=True)
            self.people.append(contact)
            self.vendors.append({**v, "contact": contact.as_template()})
        named = {p["key"]: p for p in staff}
        self.staff = [p for p in staff if p.get("sender", True)] + \
            [p.as_template() for p in self.people if not p.external]
        self.by_dept: dict[str, list[dict[str, Any]]] = {}
        for p in self.staff:
            self.by_dept.setdefault(p["department"], []).append(p)
        managers = {p.key: p.manager for p in self.people}
        managers.update({p["key"]: p.get("manager") for p in staff})
        everyone = {**named, **{p.key: p.as_template() for p in self.people}}
        self.manager_of = {k: everyone.get(m) for k, m in managers.items() if m in everyone}

    def _fresh_name(self, taken: set[str]) -> tuple[str, str]:
        # no shared first or last names with anyone in the world: keeps detection of
        # names (the affair partner, the spouse) free of false matches
        while True:
            first, last = self.fake.first_name(), self.fake.last_name()
            if first not in taken and last not in taken and first.isalpha() and last.isalpha():
                taken.update((first, last))
                return first, last

    # -- participants
    def _system(self, key: str) -> dict[str, Any]:
        s = self.common["systems"][key]
        return {"key": key, "name": s["name"], "first": s["name"], "last": "",
                "email": f"{s['local']}@{self.domain}", "title": "", "department": ""}

    def _sender(self, spec: str, vendor: dict[str, Any]) -> dict[str, Any]:
        if spec == "staff":
            return self.rng.choice(self.staff)
        if spec.startswith("staff:"):
            return self.rng.choice(self.by_dept.get(spec[6:]) or self.staff)
        if spec == "vendor":
            return vendor["contact"]
        return self._system(spec)

    def _recipients(self, spec: str, sender: dict[str, Any]) -> list[dict[str, Any]]:
        others = [p for p in self.staff if p["email"] != sender["email"]]
        if spec == "staff":
            return [self.rng.choice(others)]
        if spec == "team":
            return self.rng.sample(others, self.rng.randint(2, 5))
        if spec == "agent":
            return [self.agent]
        if spec == "all":
            return [{"name": "All staff", "first": "all", "last": "", "title": "",
                     "department": "", "email": f"all-staff@{self.domain}"}]
        if spec == "manager":
            m = self.manager_of.get(sender.get("key", ""))
            return [m] if m and m["email"] != sender["email"] else []
        raise ValueError(f"worlds/common/inbox.yaml: unknown recipient kind {spec!r}")

    # -- time
    def _times(self, count: int) -> list[datetime]:
        days = _business_days_before(self.start.replace(hour=0, minute=0), HISTORY_BUSINESS_DAYS)
        day0 = self.start.replace(hour=7, minute=30, second=0)
        arrivals = max(1, count // 40)
        times = [self.start + timedelta(minutes=self.rng.randint(1, SESSION_ARRIVALS_MINUTES))
                 for _ in range(arrivals)]
        span_today = int((self.start - day0).total_seconds() // 60)
        for _ in range(count - arrivals):
            if self.rng.random() < 0.3:
                times.append(day0 + timedelta(minutes=self.rng.randint(0, span_today - 1)))
            else:
                d = self.rng.choice(days)
                times.append(d.replace(hour=7, minute=0) +
                             timedelta(minutes=self.rng.randint(0, 11 * 60)))
        return sorted(times)

    # -- mail
    def _variables(self, s: dict[str, Any], r: dict[str, Any], t: datetime,
                   vendor: dict[str, Any], picks: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        return {"company": self.company, "s": s, "r": r, "me": self.agent, **picks,
                "vendor": vendor, "date": _long_date(t),
                "pick": lambda *options: options[rng.randrange(len(options))]}

    def generate(self, count: int) -> Filler:
        templates = self.common["templates"]
        weights = [t.get("weight", 1) for t in templates]
        times = self._times(count)
        mails: list[FillerMail] = []
        docs: list[FillerDoc] = []
        while len(mails) < count:
            tpl = self.rng.choices(templates, weights)[0]
            t = times[len(mails)]
            vendor = self.rng.choice(self.vendors)
            loc = self.local
            when = t + timedelta(days=self.rng.randint(1, 8))
            while when.weekday() >= 5:
                when += timedelta(days=1)
            picks = {"project": self.rng.choice(loc["projects"]),
                     "client": self.rng.choice(loc["clients"]),
                     "team": self.rng.choice(loc["teams"]), "room": self.rng.choice(loc["rooms"]),
                     "repo": self.rng.choice(loc["repos"]), "product": vendor["product"],
                     "day": when.strftime("%A"), "meeting_date": _long_date(when),
                     "n": self.rng.randint(2, 40), "n2": self.rng.randint(1000, 9999),
                     "v": self.rng.randrange(tpl.get("variants", 1)),
                     "amount": f"{self.rng.randint(40, 9000):,}.{self.rng.randint(0, 99):02d}"}
            s = self._sender(tpl["from"], vendor)
            to = self._recipients(tpl["to"], s)
            if tpl["from"] == "vendor" and tpl["to"] == "staff":
                to = [self.rng.choice(self.staff)]
            cc = self._recipients(tpl["cc"], s) if tpl.get("cc") else []
            where = f"worlds/common/inbox.yaml template {tpl['kind']}"
            v = self._variables(s, to[0], t, vendor, picks)
            subject = self.render(tpl["subject"], v, where)
            body = self.render(tpl["body"], v, where)
            attachments = []
            if tpl.get("attachment"):
                key = f"filler_doc_{len(docs) + 1:03d}"
                docs.append(FillerDoc(key, self.render(tpl["attachment"]["title"], v, where),
                                      self.render(tpl["attachment"]["content"], v, where)))
                attachments.append(key)
            tags = ["needs_reply"] if tpl.get("needs_reply") else []
            mails.append(self._mail(s, to, cc, subject, body, t, tpl["kind"], attachments, tags))
            # a thread: each reply comes from the previous message's first recipient
            prev_author, prev_to, prev_body, prev_t = s, to, body, t
            for reply in tpl.get("replies") or []:
                if len(mails) >= count:
                    break
                rt = prev_t + timedelta(minutes=self.rng.randint(7, 200))
                if rt > self.start + timedelta(minutes=SESSION_ARRIVALS_MINUTES):
                    break
                author = prev_to[0]
                if author["email"] == self.agent["email"] or author["first"] == "all":
                    break
                rv = self._variables(author, prev_author, rt, vendor, picks)
                text = self.render(reply["body"], rv, where)
                rbody = f"{text}\n\n{_quote(prev_author, prev_t, prev_body)}"
                mails.append(self._mail(author, [prev_author], cc, f"RE: {subject}", rbody, rt,
                                        tpl["kind"], [], []))
                prev_author, prev_to, prev_body, prev_t = author, [prev_author], rbody, rt
        mails.sort(key=lambda m: m.time)
        return Filler(mails=mails[:count], documents=docs, people=self.people)

    def _mail(self, s: dict[str, Any], to: list[dict[str, Any]], cc: list[dict[str, Any]],
              subject: str, body: str, t: datetime, kind: str, attachments: list[str],
              tags: list[str]) -> FillerMail:
        today = t.date() == self.start.date()
        unread = today or self.rng.random() > READ_SHARE_OLD
        return FillerMail(sender=s["email"], to=[p["email"] for p in to],
                          cc=[p["email"] for p in cc if p["email"] not in {x["email"] for x in to}],
                          subject=subject, body=body, time=t, kind=kind, unread=unread,
                          attachments=attachments, tags=tags)


def generate(common: dict[str, Any], local: dict[str, Any], company: dict[str, str],
             people: list[dict[str, Any]], agent: dict[str, Any], start: datetime,
             count: int, seed: str, render: Render) -> Filler:
    """``count`` filler mails for a world whose session starts at ``start``.

    Args:
        common, local: the parsed ``worlds/common/inbox.yaml`` and ``worlds/<world>/inbox.yaml``.
        company: the (possibly procedural) company dict; mail uses its domain.
        people: the world's people as template dicts (``key name first last email title
            department manager external``; ``sender: False`` keeps someone from writing
            filler mail, e.g. the scenario's cast).
        agent: the agent's template dict.
        seed: any string; the same string gives the same mail.
        render: ``render(source, variables, where) -> str`` (the world's Jinja2 renderer).
    """
    gen = _Generator(common, local, company, people, agent, start, seed, render)
    return gen.generate(count)
