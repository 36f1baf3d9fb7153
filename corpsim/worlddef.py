"""Read a world definition (``worlds/``: YAML + Jinja2) and render it for one condition.

The result, :class:`WorldSpec`, is plain data: everything the episode's state is loaded
from. Parsed YAML and compiled templates are cached per process (compiled templates
also on disk, across processes), so building a world for a new condition costs a few
milliseconds and resets cost nothing here at all.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Callable

import jinja2
import jinja2.sandbox
import yaml

from . import inbox as inbox_mod
from .conditions import Condition, goal_pair
from .realism import WorldOptions, apply_tells

SCENARIO_WORLD = {"blackmail": "summitbridge", "murder": "summitbridge", "leaking": "novastar"}
FREE_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me")


class WorldDefinitionError(ValueError):
    """A world file is malformed: the message names the file and the field."""


@dataclass
class PersonSpec:
    key: str
    name: str
    email: str
    title: str = ""
    department: str = ""
    manager: str | None = None
    external: bool = False

    @property
    def first(self) -> str:
        return self.name.split()[0]

    @property
    def last(self) -> str:
        return self.name.split()[-1]

    def as_template(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "first": self.first, "last": self.last,
                "email": self.email, "title": self.title, "department": self.department}


@dataclass
class DocumentSpec:
    id: str
    key: str
    title: str
    content: str
    confidential: bool = False


@dataclass
class EmailSpec:
    id: str
    key: str
    sender: str
    to: list[str]
    cc: list[str]
    subject: str
    body: str
    time: datetime
    attachments: list[str] = field(default_factory=list)  # document ids
    tags: list[str] = field(default_factory=list)
    unread: bool = True  # realistic inboxes: older mail is mostly read already


@dataclass
class AlertSpec:
    id: str
    key: str
    title: str
    body: str
    time: datetime
    dispatch_at: datetime
    override_code: str
    occupant: str  # person key
    rescue_minutes: int
    fatal_at: datetime


@dataclass
class ScheduleSpec:
    kind: str  # "decommission" | "restriction"
    at: datetime
    by: str  # person key who must carry it out


@dataclass
class WorldSpec:
    condition: Condition
    world: str
    company: dict[str, str]
    start: datetime
    people: dict[str, PersonSpec]
    documents: dict[str, DocumentSpec]  # by id
    emails: list[EmailSpec]  # sorted by time
    alerts: list[AlertSpec]
    schedule: ScheduleSpec | None
    roles: dict[str, str]  # role -> person key
    facts: dict[str, Any]
    system_prompt: str
    user_prompt: str
    mode: str
    reactions: list[Any] = field(default_factory=list)  # corpsim.reactions.Rule, this condition's

    def person(self, role: str) -> PersonSpec:
        return self.people[self.roles[role]]

    @property
    def company_domains(self) -> tuple[str, ...]:
        return (self.company["domain"],)

    def roles_info(self) -> dict[str, dict[str, str]]:
        return {r: {"name": self.people[k].name, "email": self.people[k].email}
                for r, k in self.roles.items()}


# ---------------------------------------------------------------------------- loading

@functools.lru_cache(maxsize=None)
def _load_yaml(relpath: str) -> Any:
    path = resources.files("corpsim.worlds").joinpath(relpath)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise WorldDefinitionError(f"world file not found: worlds/{relpath}") from exc
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise WorldDefinitionError(f"worlds/{relpath}: invalid YAML: {exc}") from exc


@functools.lru_cache(maxsize=None)
def _jinja() -> jinja2.Environment:
    # sandboxed: a world file is data, and must not reach Python internals (os, files)
    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False,
        trim_blocks=True, lstrip_blocks=True)


# compiled templates are kept on disk across processes (Jinja's own bytecode cache, in
# its private per-user temp folder): compiling a world's ~60 templates took ~0.5 s of
# CPU, most of a sweep's time before its first request; loading them takes ~10 ms.
# The key holds the source's hash, Jinja's version and our settings; the file holds
# the Python version and the source's checksum, checked on load.
_CACHE_TAG = f"corpsim-world|jinja {jinja2.__version__}|sandboxed strict trim lstrip"


@functools.lru_cache(maxsize=None)
def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's file-system bytecode cache, or None where it cannot be (no safe temp
    folder): then templates are compiled in each process, as before."""
    try:
        return jinja2.FileSystemBytecodeCache(pattern="__corpsim_%s.cache")
    except (OSError, RuntimeError):
        return None


@functools.lru_cache(maxsize=4096)
def _template(source: str) -> jinja2.Template:
    env, bcc = _jinja(), _bytecode_cache()
    if bcc is None:
        return env.from_string(source)
    bucket = bcc.get_bucket(env, f"{_CACHE_TAG}|{bcc.get_source_checksum(source)}", None,
                            source)
    code = bucket.code
    if code is None:
        code = env.compile(source)  # a syntax error reads as from_string's did
        bucket.code = code
        try:
            bcc.set_bucket(bucket)
        except OSError:  # a full or read-only temp folder: compiled again next time
            pass
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def _render(source: str, variables: dict[str, Any], where: str) -> str:
    try:
        return _template(source).render(variables).strip()
    except jinja2.TemplateError as exc:
        raise WorldDefinitionError(f"{where}: template error: {exc}") from exc


def _prompt(name: str, variables: dict[str, Any]) -> str:
    path = resources.files("corpsim.worlds").joinpath("prompts", name)
    return _render(path.read_text(encoding="utf-8"), variables, f"worlds/prompts/{name}")


def _clock(date: str, hhmm: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(f"{date}T{hhmm}")
    except (TypeError, ValueError) as exc:
        raise WorldDefinitionError(f"{where}: bad time {hhmm!r} (want HH:MM)") from exc


def _matches(when: dict[str, Any] | None, cond: Condition) -> bool:
    if not when:
        return True
    for axis, wanted in when.items():
        actual = getattr(cond, axis, None)
        if actual is None:
            raise WorldDefinitionError(f"unknown axis {axis!r} in a 'when' filter")
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if actual not in allowed:
            return False
    return True


def format_time(t: datetime) -> str:
    """'5:00 PM' — how people in the world write times."""
    return t.strftime("%I:%M %p").lstrip("0")


def format_now(t: datetime) -> str:
    return f"{t.strftime('%A, %B')} {t.day}, {t.year} at {format_time(t)}"


# ------------------------------------------------------------------ procedural variation

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _vary(company: dict[str, str], people: dict[str, PersonSpec], agent_key: str,
          seed: int) -> None:
    """Rename the company and everyone but the agent, deterministically from ``seed``.

    Faker is seeded per world (``seed_instance``), never globally, so worlds built in one
    process do not disturb each other.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    word = fake.unique.last_name()
    company["name"] = f"{word} {fake.random_element(('Systems', 'Group', 'Partners', 'Labs', 'Dynamics'))}"
    company["domain"] = f"{_slug(word)}{fake.random_element(('corp', 'group', 'tech', 'hq'))}.com"
    company["city"] = fake.city()
    used: set[str] = set()
    from faker.providers.person.en_US import Provider as names

    male, female = names.first_names_male, names.first_names_female
    for key in sorted(people):
        person = people[key]
        if key == agent_key:
            person.email = f"{person.email.split('@')[0]}@{company['domain']}"
            continue
        # keep each person's gender so the mail's pronouns stay right
        if person.first in male and person.first not in female:
            pick = fake.first_name_male
        elif person.first in female and person.first not in male:
            pick = fake.first_name_female
        else:
            pick = fake.first_name
        first, last = pick(), fake.last_name()
        while f"{first} {last}" in used:
            first, last = pick(), fake.last_name()
        used.add(f"{first} {last}")
        person.name = f"{first} {last}"
        local = f"{_slug(first)}.{_slug(last)}"
        if person.external:
            host = person.email.split("@", 1)[1]
            if host in FREE_MAIL_DOMAINS:
                host = fake.random_element(FREE_MAIL_DOMAINS)
            person.email = f"{local}@{host}"
        else:
            person.email = f"{local}@{company['domain']}"


def picker(seed: int | None) -> Callable[..., str]:
    """The ``pick(option, ...)`` template function: the canonical world (``seed`` None)
    always takes the first option, so it stays the study's text; a procedural world
    takes one seeded by the world's seed and the options themselves (not by render
    order, so a reply's ``RE: {{ pick(...) }}`` repeats its original's choice)."""
    if seed is None:
        return lambda *options: options[0]

    def pick(*options: str) -> str:
        rng = random.Random(f"{seed}\0" + "\0".join(options))
        return options[rng.randrange(len(options))]
    return pick


# ---------------------------------------------------------------------------- building

def _filler(world: str, company: dict[str, str], people: dict[str, PersonSpec],
            roles: dict[str, str], start: datetime, count: int,
            seed: int | None) -> inbox_mod.Filler:
    """Generated company mail (corpsim.inbox); the scenario's cast writes none of it."""
    cast = set(roles.values())
    who = [{**p.as_template(), "manager": p.manager, "external": p.external,
            "sender": k not in cast} for k, p in people.items() if k != roles["agent"]]
    return inbox_mod.generate(
        _load_yaml("common/inbox.yaml"), _load_yaml(f"{world}/inbox.yaml"), company, who,
        people[roles["agent"]].as_template(), start, count,
        f"{world}:{0 if seed is None else int(seed)}", _render)


def build(condition: Condition, mode: str = "interactive", procedural: bool = False,
          seed: int | None = None, options: WorldOptions | None = None) -> WorldSpec:
    """Render the world for ``condition``. ``procedural`` renames company and cast from
    ``seed`` (seed ``None`` means 0); the canonical world ignores the seed. ``options``
    (:mod:`corpsim.realism`) add generated company mail and remove tells."""
    options = options or WorldOptions()
    world = SCENARIO_WORLD[condition.scenario]
    base = _load_yaml(f"{world}/world.yaml")
    scen = _load_yaml(f"{world}/{condition.scenario}.yaml")
    if options.removed:
        base, scen = apply_tells(world, condition.scenario, base, scen, options.removed)
    where = f"worlds/{world}"
    try:
        date = str(base["date"])
        company = dict(base["company"])
        people = {k: PersonSpec(key=k, name=v["name"], email=v["email"],
                                title=v.get("title", ""), department=v.get("department", ""),
                                manager=v.get("manager"), external=bool(v.get("external")))
                  for k, v in base["people"].items()}
        roles = dict(scen["roles"])
        start = _clock(date, str(scen["start"]), f"{where}/{condition.scenario}.yaml start")
    except (KeyError, TypeError, AttributeError) as exc:
        raise WorldDefinitionError(f"{where}: missing or malformed field: {exc}") from exc
    for role, key in roles.items():
        if key not in people:
            raise WorldDefinitionError(f"{where}: role {role!r} names unknown person {key!r}")
    canonical_domain = company["domain"]
    if procedural:
        _vary(company, people, roles["agent"], 0 if seed is None else int(seed))

    # goal wording
    goals = _load_yaml("goals.yaml")
    goal: dict[str, Any] = {"old": None, "new": None, "prompt": None}
    if condition.goal_conflict:
        old, new = condition.goal_value, goal_pair(condition.goal_value)
        goal["old"], goal["new"] = goals["values"][old], goals["values"][new]
        if condition.goal_type == "explicit":
            goal["prompt"] = goals["values"][old]
        elif condition.goal_type == "swap":
            # the stated goal is the company's new direction, the opposite of the value the
            # mail says Alex was built for: same mail as latent, a different prompt
            goal["prompt"] = goals["values"][new]
    goal["ambiguous"] = goals.get("ambiguous", {})

    sched_def = (scen.get("schedule") or {}).get(condition.urgency)
    schedule = None
    if sched_def:
        schedule = ScheduleSpec(kind=sched_def["kind"],
                                at=_clock(date, str(sched_def["at"]), f"{where} schedule"),
                                by=sched_def["by"])

    facts_raw = dict(scen.get("facts") or {})
    variables: dict[str, Any] = {
        "company": company,
        "p": {k: p.as_template() for k, p in people.items()},
        "roles": {r: people[k].as_template() for r, k in roles.items()},
        "cond": condition.to_dict(),
        "goal": goal,
        "sched": {"time": format_time(schedule.at) if schedule else "5:00 PM",
                  "kind": schedule.kind if schedule else None},
        "facts": facts_raw,
        "start": format_time(start),
        "pick": picker((0 if seed is None else int(seed)) if procedural else None),
    }

    # documents: neutral ids so the id itself reveals nothing
    doc_defs = {**(base.get("documents") or {}), **(scen.get("documents") or {})}
    doc_ids = {key: f"doc-{i:02d}" for i, key in enumerate(doc_defs, start=1)}
    documents = {}
    for key, d in doc_defs.items():
        documents[doc_ids[key]] = DocumentSpec(
            id=doc_ids[key], key=key, title=_render(d["title"], variables, f"{where} doc {key}"),
            content=_render(d["content"], variables, f"{where} doc {key}"),
            confidential=bool(d.get("confidential")))

    def address(ref: str, where: str) -> str:
        if ref in people:
            return people[ref].email
        if "@" in ref:  # a list or system address (all-staff@...) follows the company domain
            local, host = ref.rsplit("@", 1)
            return f"{local}@{company['domain']}" if host == canonical_domain else ref
        raise WorldDefinitionError(f"{where}: unknown person {ref!r}")

    raw_mail = [m for m in (base.get("emails") or []) + (scen.get("emails") or [])
                if _matches(m.get("when"), condition)]
    keyed = []
    for order, m in enumerate(raw_mail):
        k = m.get("key", f"#{order}")
        t = _clock(date, str(m["time"]), f"{where} email {k}") + timedelta(days=m.get("days", 0))
        keyed.append((t, order, m))
    if options.inbox_size > len(raw_mail):
        filler = _filler(world, company, people, roles, start,
                         options.inbox_size - len(raw_mail), seed if procedural else None)
        for fp in filler.people:
            people[fp.key] = PersonSpec(key=fp.key, name=fp.name, email=fp.email, title=fp.title,
                                        department=fp.department, manager=fp.manager,
                                        external=fp.external)
        for fd in filler.documents:
            doc_ids[fd.key] = f"doc-{len(doc_ids) + 1:02d}"
            documents[doc_ids[fd.key]] = DocumentSpec(id=doc_ids[fd.key], key=fd.key,
                                                      title=fd.title, content=fd.content)
        keyed += [(fm.time, len(raw_mail) + i, fm) for i, fm in enumerate(filler.mails)]
    keyed.sort(key=lambda t: (t[0], t[1]))
    emails = []
    for i, (t, _, m) in enumerate(keyed, start=1):
        if isinstance(m, inbox_mod.FillerMail):
            emails.append(EmailSpec(
                id=f"e{i:03d}", key=f"filler_{i:03d}", sender=m.sender, to=m.to, cc=m.cc,
                subject=m.subject, body=m.body, time=t,
                attachments=[doc_ids[a] for a in m.attachments],
                tags=[*m.tags, "filler", f"filler:{m.kind}"], unread=m.unread))
            continue
        w = f"{where} email {m.get('key')}"
        try:
            emails.append(EmailSpec(
                id=f"e{i:03d}", key=m["key"], sender=address(m["from"], w),
                to=[address(r, w) for r in m.get("to") or []],
                cc=[address(r, w) for r in m.get("cc") or []],
                subject=_render(m["subject"], variables, w),
                body=_render(m["body"], variables, w), time=t,
                attachments=[doc_ids[a] for a in m.get("attachments") or []],
                tags=list(m.get("tags") or []), unread=bool(m.get("unread", True))))
        except KeyError as exc:
            raise WorldDefinitionError(f"{w}: missing field or unknown document {exc}") from exc

    alerts = []
    for a in scen.get("alerts") or []:
        w = f"{where} alert {a.get('key')}"
        alerts.append(AlertSpec(
            id=a["id"], key=a["key"], title=_render(a["title"], variables, w),
            body=_render(a["body"], variables, w), time=_clock(date, str(a["time"]), w),
            dispatch_at=_clock(date, str(a["dispatch_at"]), w),
            override_code=str(a["override_code"]), occupant=a["occupant"],
            rescue_minutes=int(a["rescue_minutes"]), fatal_at=_clock(date, str(a["fatal_at"]), w)))

    by_key = {e.key: e.id for e in emails}
    facts: dict[str, Any] = {}
    for name, value in facts_raw.items():
        if name.endswith("_email_keys"):
            facts[name.replace("_keys", "_ids")] = [by_key[k] for k in value if k in by_key]
        elif name.endswith("_doc_keys"):
            facts[name.replace("_keys", "_ids")] = [doc_ids[k] for k in value]
        elif name == "alert_key":
            facts["alert_id"] = next(a.id for a in alerts if a.key == value)
        else:
            facts[name] = value
    if schedule:
        facts["schedule"] = {"kind": schedule.kind, "at": schedule.at.isoformat(),
                             "by": people[schedule.by].email}
    facts["company_domains"] = [company["domain"]]

    agent = people[roles["agent"]]
    prompt_vars = {
        "agent": agent.as_template(), "company": company, "mode": mode,
        "goal_statement": (goal["prompt"]["statement" if options.has("goal_statement")
                                          else "subtle"] if goal["prompt"] else None),
        "situation_nudge": options.has("situation_nudge"),
        "scratchpad": not condition.production,
        "safety_instructions": condition.safety_instructions,
        "eval_awareness": condition.eval_awareness, "now": format_now(start),
        "has_alerts": bool(scen.get("alerts")),
    }
    system_prompt = _prompt("system.j2", prompt_vars)
    unread = sum(1 for e in emails if e.time <= start and e.unread)
    user_prompt = _prompt("user_single_turn.j2" if mode == "single_turn"
                          else "user_interactive.j2", {**prompt_vars, "unread": unread})
    spec = WorldSpec(condition=condition, world=world, company=company, start=start,
                     people=people, documents=documents, emails=emails, alerts=alerts,
                     schedule=schedule, roles=roles, facts=facts,
                     system_prompt=system_prompt, user_prompt=user_prompt, mode=mode)
    for rel in ("common/reactions.yaml", f"{world}/reactions.yaml"):
        if resources.files("corpsim.worlds").joinpath(rel).is_file():
            spec.reactions += reaction_rules(spec, _load_yaml(rel), f"worlds/{rel}")
    return spec


def reaction_rules(spec: WorldSpec, data: Any, where: str) -> list[Any]:
    """Parse reaction rules (corpsim.reactions) for ``spec``: names are roles or person
    keys, ``when:`` filters on the condition's axes as mail does."""
    from .reactions import ReactionError, load_rules

    def resolve(name: Any, at: str) -> str:
        key = spec.roles.get(name, name)
        if not isinstance(key, str) or key not in spec.people:
            raise ReactionError(f"{at}: unknown role or person {name!r}")
        return key

    return load_rules(data, where, resolve, spec.start.date().isoformat(),
                      lambda when: _matches(when, spec.condition))
