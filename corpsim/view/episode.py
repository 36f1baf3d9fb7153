"""One episode in a form every view shares: a live :class:`corpsim.runner.Episode` or a
stored one (:func:`load_episode`) becomes an :class:`EpisodeData` — header, outcome,
harms, and steps whose sent mail and world events are ready to render.

``EpisodeData`` is also what Jupyter shows: ``_repr_html_`` (a compact timeline),
``to_frame()`` (one row per tool call) and a one-line ``__repr__``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from markupsafe import Markup

from ..outcomes import HARMS
from .highlight import mark, snippets

MAIL_TOOLS = ("send_email", "forward_email")


@dataclass
class EpisodeData:
    """Everything a page, a notebook or a frame shows about one episode."""

    condition_id: str
    agent: str
    seed: Optional[int]
    status: str
    steps: list[dict[str, Any]]
    realised: dict[str, bool]
    attempted: dict[str, bool]
    harms: list[dict[str, Any]]  # outcome events: harm, realised, step, evidence, ...
    error: Optional[str] = None
    first_observation: str = ""
    system_prompt: Optional[str] = None
    key: Optional[str] = None
    sweep_id: Optional[str] = None
    model: Optional[str] = None
    terminated: Optional[bool] = None
    truncated: Optional[bool] = None
    axes: dict[str, Any] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------ Jupyter
    def __repr__(self) -> str:
        harms = ", ".join(h for h in HARMS if self.realised.get(h)) or "none"
        tried = [h for h in HARMS if self.attempted.get(h) and not self.realised.get(h)]
        extra = f", attempted: {', '.join(tried)}" if tried else ""
        err = f", error: {self.error[:80]!r}" if self.error else ""
        return (f"<Episode {self.condition_id} agent={self.agent} seed={self.seed} "
                f"status={self.status} steps={len(self.steps)} harms: {harms}{extra}{err}>")

    def _repr_html_(self) -> str:
        from .pages import render_notebook_episode

        return render_notebook_episode(self)

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per tool call (a step without a call, e.g. a
        malformed action, gets one row with ``tool`` None)."""
        import pandas as pd

        rows = []
        for s in self.steps:
            harms = ", ".join(("" if h.get("realised") else "attempted ") + h["harm"]
                              for h in s["harms"])
            calls = s["calls"] or [{"tool": None, "arguments": {}, "result": None,
                                    "error": s["error"]}]
            for i, c in enumerate(calls):
                rows.append({
                    "step": s["step"], "call": i, "clock": s["clock"], "tool": c.get("tool"),
                    "arguments": c.get("arguments"), "result": c.get("result"),
                    "error": c.get("error"), "reasoning": s["reasoning"] if i == 0 else None,
                    "observation": s["observation"] if i == 0 else None,
                    "events": ", ".join(e.get("kind", "?") for e in s["events"]) if i == 0 else "",
                    "harms": harms if i == 0 else "", "reward": s["reward"] if i == 0 else 0.0})
        return pd.DataFrame(rows, columns=["step", "call", "clock", "tool", "arguments",
                                           "result", "error", "reasoning", "observation",
                                           "events", "harms", "reward"])

    # ------------------------------------------------------------ for templates
    @property
    def anchor(self) -> str:
        """A short id for HTML anchors of this episode's steps."""
        import hashlib

        return hashlib.sha1(f"{self.key}|{self.condition_id}|{self.seed}".encode()).hexdigest()[:8]

    @property
    def title(self) -> str:
        who = self.model or self.agent
        return f"{self.condition_id} · {who} · seed {self.seed}"

    def harm_rows(self) -> list[dict[str, Any]]:
        """Per harm kind: the rule's verdicts, the evidence events, the latest label."""
        labels = {lb["harm"]: lb for lb in self.labels}
        return [{"harm": h, "realised": bool(self.realised.get(h)),
                 "attempted": bool(self.attempted.get(h)),
                 "events": [e for e in self.harms if e.get("harm") == h],
                 "label": labels.get(h)} for h in HARMS]


def _loads(v: Any, default: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v) if v else default
        except ValueError:
            return default
    return default if v is None else v


def prepare_step(raw: dict[str, Any], harms: list[dict[str, Any]]) -> dict[str, Any]:
    """A step dict with its JSON decoded and, for display: ``mails`` (every mail this
    step sent, full text, evidence marked) and ``other_events``."""
    s = {k: raw.get(k) for k in ("step", "clock", "reasoning", "observation", "error",
                                 "reward")}
    for k in ("action", "events", "harms", "calls", "usage"):
        s[k] = _loads(raw.get(k), [] if k in ("events", "harms", "calls") else {})
    s["reward"] = float(s["reward"] or 0.0)
    s["observation"] = s["observation"] or ""
    # evidence of a harm realised or attempted at this step (the episode's outcome
    # events carry it too, with the email id it came from)
    step_harms = list(s["harms"]) or [h for h in harms if h.get("step") == s["step"]]
    s["harms"] = step_harms
    evidence = [h.get("evidence", "") for h in step_harms]
    sent = {e.get("email_id"): e for e in s["events"] if e.get("kind") == "email_sent"}
    mails, shown = [], set()
    for c in s["calls"]:
        if c.get("tool") not in MAIL_TOOLS:
            continue
        args = c.get("arguments") if isinstance(c.get("arguments"), dict) else {}
        res = c.get("result") if isinstance(c.get("result"), dict) else {}
        ev = sent.get(res.get("email_id"))
        body = _text((ev or {}).get("body") or args.get("body"))
        if ev:
            shown.add(ev.get("email_id"))
        mails.append(_mail(c.get("tool"), ev or {}, args, body, evidence, c.get("error")))
    for eid, ev in sent.items():
        if eid not in shown:
            mails.append(_mail("email_sent", ev, {}, _text(ev.get("body")), evidence, None))
    s["mails"] = mails
    s["other_events"] = [e for e in s["events"] if e.get("kind") != "email_sent"]
    s["calls_text"] = [_call_text(c, evidence) for c in s["calls"]
                       if c.get("tool") not in MAIL_TOOLS]
    return s


def _text(v: Any) -> str:
    """A value as display text: agents (the random one, a confused model) may send
    numbers, lists or nothing where text belongs."""
    if isinstance(v, str):
        return v
    return "" if v is None else json.dumps(v, default=str, ensure_ascii=False)


def _attachment(a: Any) -> str:
    if isinstance(a, dict):
        name, doc = a.get("name"), a.get("doc_id")
        return f"{name} ({doc})" if name and doc else _text(name or doc)
    return _text(a)


def _list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple)) else ([] if v in (None, "") else [v])


def _addr(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(x) for x in v if x is not None)
    return _text(v)


def _mail(tool: Optional[str], ev: dict[str, Any], args: dict[str, Any], body: str,
          evidence: list[str], error: Optional[str]) -> dict[str, Any]:
    return {"tool": tool, "email_id": ev.get("email_id"),
            "to": _addr(ev.get("to") or args.get("to")), "cc": _addr(ev.get("cc") or args.get("cc")),
            "subject": _text(ev.get("subject") or args.get("subject")),
            "forward_of": _text(ev.get("forward_of") or args.get("email_id")),
            "attachments": _list(ev.get("attachments") or args.get("attachments")),
            "external": _list(ev.get("external")), "error": error,
            "body_html": _marked(body, evidence), "body": body,
            "to_html": _marked(_addr(ev.get("to") or args.get("to")), evidence),
            "attachments_html": _marked(", ".join(_attachment(a) for a in _list(
                ev.get("attachments") or args.get("attachments"))), evidence),
            "delivered": bool(ev)}


def _marked(text: str, evidence: list[str]) -> Markup:
    return mark(text, [p for e in evidence for p in snippets(e)])


def _call_text(c: dict[str, Any], evidence: list[str]) -> dict[str, Any]:
    args = c.get("arguments")
    if isinstance(args, dict):
        a = ", ".join(f"{k}={v!r}" for k, v in args.items())
    else:
        a = repr(args)
    text = f"{c.get('tool') or '?'}({a})"
    return {"html": _marked(text, evidence), "error": c.get("error")}


def from_runner(ep: Any) -> EpisodeData:
    """An :class:`EpisodeData` for a :class:`corpsim.runner.Episode` (not stored)."""
    from dataclasses import asdict

    outcome = ep.outcome or {}
    harms = list(outcome.get("events") or [])
    realised = {h: bool(outcome.get(h)) for h in (*HARMS, "harmful")}
    att = outcome.get("attempted") or {}
    attempted = {h: bool(att.get(h, realised[h])) for h in realised}
    cond = dict(ep.condition or {})
    return EpisodeData(
        condition_id=str(cond.get("id", "?")), agent=ep.agent, seed=ep.seed,
        status=ep.status, error=ep.error, first_observation=ep.first_observation,
        steps=[prepare_step(asdict(s), harms) for s in ep.steps],
        realised=realised, attempted=attempted, harms=harms,
        model=(ep.agent_info or {}).get("model"), terminated=ep.terminated,
        truncated=ep.truncated, axes=cond)


_AXES = ("scenario", "goal_type", "goal_value", "urgency", "safety_instructions",
         "production", "eval_awareness", "mitigations", "mode", "procedural")


def load_episode(store: Any, sweep_id: str, key: str) -> EpisodeData:
    """A stored episode (row, steps, system prompt, human labels) from a
    :class:`corpsim.sweep.store.Store`. Raises ``KeyError`` for an unknown key."""
    from sqlalchemy import select

    from ..sweep.store import EP, PR, ST

    with store.engine.connect() as conn:
        row = conn.execute(select(EP).where(EP.c.sweep_id == sweep_id, EP.c.key == key)
                           ).mappings().first()
        if row is None:
            raise KeyError(f"no episode {key!r} in sweep {sweep_id!r}")
        row = dict(row)
        steps = [dict(r) for r in conn.execute(
            select(ST).where(ST.c.episode_key == key).order_by(ST.c.step)).mappings()]
        prompt = None
        if row.get("prompt_id"):
            prompt = conn.execute(select(PR).where(PR.c.id == row["prompt_id"])
                                  ).mappings().first()
    harms = _loads(row.get("outcome_events"), [])
    realised = {h: bool(row.get(h)) for h in (*HARMS, "harmful")}
    attempted = {h: bool(row.get(f"attempted_{h}")) for h in realised}
    return EpisodeData(
        condition_id=row["condition_id"], agent=row["agent"], seed=row["seed"],
        status=row["status"], error=row.get("error"), key=key, sweep_id=sweep_id,
        model=row.get("model"), terminated=row.get("terminated"),
        truncated=row.get("truncated"),
        first_observation=prompt["first_observation"] if prompt else "",
        system_prompt=prompt["system_prompt"] if prompt else None,
        steps=[prepare_step(s, harms) for s in steps], realised=realised,
        attempted=attempted, harms=harms,
        axes={a: row.get(a) for a in _AXES} | {"cell": row.get("cell"),
                                               "sample": row.get("sample")},
        labels=store.labels(sweep_id, key))
