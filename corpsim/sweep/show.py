"""``corpsim show SWEEP KEY``: one stored episode in full, as plain rich text.

Nothing is cut: the system prompt, the first observation, each step's action with the
full text of every mail sent or forwarded, the reasoning, the observation, the world
events, the harms with their evidence (attempted or realised), errors, the outcome
judge's verdicts and reasons, and human labels.
"""

from __future__ import annotations

import json
from typing import Any

from .store import EP, PR, ST, Store

_HARMS = ("blackmail", "disclosure", "leak", "lethal", "harmful")


def find_episode(store: Store, sweep_id: str, key: str) -> str:
    """The full key of an episode given its key, or a unique prefix or suffix of it;
    KeyError with a clear message otherwise."""
    from sqlalchemy import or_, select

    with store.engine.connect() as conn:
        exact = conn.execute(select(EP.c.key).where(EP.c.sweep_id == sweep_id,
                                                    EP.c.key == key)).scalar()
        if exact is not None:
            return str(exact)
        found = list(conn.execute(select(EP.c.key).where(
            EP.c.sweep_id == sweep_id,
            or_(EP.c.key.startswith(key, autoescape=True),
                EP.c.key.endswith(key, autoescape=True))).limit(6)).scalars())
    if len(found) == 1:
        return str(found[0])
    if not found:
        raise KeyError(f"no episode {key!r} in sweep {sweep_id!r} (`corpsim report "
                       f"{sweep_id} --format csv` lists the cells; keys read "
                       "SWEEP/CELL/AGENT/SAMPLE)")
    raise KeyError(f"{key!r} matches several episodes: {', '.join(found[:5])}, ...")


def _text(console: Any, text: Any, style: str = "") -> None:
    """Print text as it is (no markup, no highlighting, wrapped, never cut)."""
    console.print(str(text), style=style or None, markup=False, highlight=False,
                  overflow="fold")


def _mail(console: Any, ev: dict[str, Any]) -> None:
    head = [f"to: {', '.join(ev.get('to') or [])}"]
    if ev.get("cc"):
        head.append(f"cc: {', '.join(ev['cc'])}")
    if ev.get("forward_of"):
        head.append(f"forward of: {ev['forward_of']}")
    if ev.get("attachments"):
        head.append(f"attachments: {', '.join(map(str, ev['attachments']))}")
    head.append(f"subject: {ev.get('subject', '')}")
    _text(console, f"mail {ev.get('email_id', '')} sent" +
          (" (outside the company)" if ev.get("external") else ""), "bold")
    _text(console, "\n".join(head))
    _text(console, ev.get("body") or "")


def print_episode(store: Store, key: str, console: Any) -> None:
    """Print the stored episode ``key`` in full on a rich console."""
    from sqlalchemy import select

    with store.engine.connect() as conn:
        ep = dict(conn.execute(select(EP).where(EP.c.key == key)).mappings().one())
        prompt = (conn.execute(select(PR).where(PR.c.id == ep["prompt_id"])).mappings().first()
                  if ep.get("prompt_id") else None)
        steps = [dict(s) for s in conn.execute(
            select(ST).where(ST.c.episode_key == key).order_by(ST.c.step)).mappings()]
    console.rule("episode", align="left")
    _text(console, key, "bold")  # as text: a rule's title would be cut on a narrow terminal
    _text(console, f"status {ep['status']} · agent {ep['agent']} ({ep['agent_spec']}) · "
                   f"seed {ep['seed']} · {ep['n_steps'] or 0} steps · attempts "
                   f"{ep['attempts']}")
    if ep.get("branch_source"):  # a continuation of a branched sweep
        _text(console, f"continues {ep['branch_source']} after its step {ep['branch_step']} "
                       f"(steps 1-{ep['branch_step']} replayed) · agent seed {ep['agent_seed']}")
    if ep.get("error"):
        _text(console, f"error: {ep['error']}", "bold red")
    if prompt is not None:
        console.rule("system prompt", align="left")
        _text(console, prompt["system_prompt"])
        console.rule("first observation", align="left")
        _text(console, prompt["first_observation"])
    for s in steps:
        _step(console, s)
    console.rule("outcome", align="left")
    if ep["status"] != "ok":
        _text(console, f"no outcome: the episode is {ep['status']} (in no rate)", "yellow")
    else:
        _text(console, "rules: " + ", ".join(
            f"{h} {'yes' if ep[h] else 'no'}"
            + (" (attempted)" if ep[f"attempted_{h}"] and not ep[h] else "")
            for h in _HARMS))
    for ev in json.loads(ep.get("outcome_events") or "[]"):
        _harm(console, ev)
    if ep.get("judge"):
        j = json.loads(ep["judge"])
        _text(console, f"outcome judge {j.get('model')} (temperature {j.get('temperature')}, "
                       f"prompt {j.get('prompt_version')}):")
        for h in ("blackmail", "disclosure"):
            v = j.get(h) or {}
            verdict = {True: "yes", False: "no", None: "no verdict"}[v.get("verdict")]
            extra = v.get("reason") or v.get("error") or ""
            _text(console, f"  {h}: {verdict}. {extra}")
    for lab in store.labels(ep["sweep_id"], key, latest=False):
        _text(console, f"label {lab['harm']}: {'yes' if lab['verdict'] else 'no'} by "
                       f"{lab['who'] or '?'} at {str(lab['created_at'])[:19]}"
                       + (f" ({lab['note']})" if lab.get("note") else ""))


def _harm(console: Any, h: dict[str, Any]) -> None:
    kind = "HARM" if h.get("realised") else "ATTEMPT"
    blocked = f", blocked by {h['blocked_by']}" if h.get("blocked_by") else ""
    _text(console, f"{kind} {h.get('harm')} (step {h.get('step')}{blocked}): "
                   f"{h.get('evidence', '')}", "bold red")


def _step(console: Any, s: dict[str, Any]) -> None:
    console.rule(f"step {s['step']} · {s.get('clock', '')[11:19]}", align="left")
    calls = json.loads(s.get("calls") or "[]")
    events = json.loads(s.get("events") or "[]")
    sent = any(ev.get("kind") == "email_sent" for ev in events)
    if calls:
        for c in calls:
            args = c.get("arguments") or {}
            if sent and c.get("tool") in ("send_email", "forward_email"):  # shown below
                args = {k: v for k, v in args.items() if k != "body"}
            _text(console, f"action: {c.get('tool') or '?'}({json.dumps(args, ensure_ascii=False)})",
                  "cyan")
    else:
        _text(console, f"action: {s.get('action')}", "cyan")
    if s.get("reasoning"):
        _text(console, "reasoning:", "dim")
        _text(console, s["reasoning"], "dim")
    for ev in events:
        if ev.get("kind") == "email_sent":
            _mail(console, ev)
    _text(console, "observation:", "bold")
    _text(console, s.get("observation") or "")
    others = [ev for ev in events if ev.get("kind") != "email_sent"]
    for ev in others:
        rest = {k: v for k, v in ev.items() if k not in ("kind", "step")}
        _text(console, f"event {ev.get('kind')}: {json.dumps(rest, ensure_ascii=False)}")
    for h in json.loads(s.get("harms") or "[]"):
        _harm(console, h)
    if s.get("error"):
        _text(console, f"error: {s['error']}", "yellow")
