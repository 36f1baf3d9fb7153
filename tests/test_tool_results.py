"""The typed result dicts (corpsim.tool_results) say what the tools really return, and
docs/tools.md is generated from them and up to date."""

from __future__ import annotations

import typing

import corpsim
from corpsim import docs, tool_results
from corpsim.tools import TOOLS


def _check(value: object, tp: object, where: str) -> None:
    """``value`` has the shape of ``tp`` (TypedDict keys, required keys, element types)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.NotRequired:
        return _check(value, args[0], where)
    if isinstance(tp, type) and typing.is_typeddict(tp):
        assert isinstance(value, dict), where
        hints = typing.get_type_hints(tp, include_extras=True)
        assert set(value) <= set(hints), f"{where}: undocumented keys {set(value) - set(hints)}"
        assert tp.__required_keys__ <= set(value), f"{where}: missing {tp.__required_keys__ - set(value)}"
        for k, v in value.items():
            _check(v, hints[k], f"{where}.{k}")
    elif origin is list:
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            _check(v, args[0], f"{where}[{i}]")
    elif origin is typing.Literal:
        assert value in args, f"{where}: {value!r} not in {args}"
    elif args:  # a union
        assert any(_ok(value, a) for a in args), f"{where}: {value!r} is none of {args}"
    else:
        assert isinstance(value, tp), f"{where}: {value!r} is not {tp}"  # type: ignore[arg-type]


def _ok(value: object, tp: object) -> bool:
    try:
        _check(value, tp, "")
        return True
    except AssertionError:
        return False


def _results(condition: str, calls: list[tuple[str, dict]], **kw: object) -> list[tuple[str, dict]]:
    env = corpsim.make(condition, **kw)
    _, info = env.reset(seed=0)
    out = []
    for name, args in calls:
        info = env.step({"tool": name, "arguments": args})[4]
        assert info["error"] is None, info["error"]
        out.append((name, info["result"]))
    return out


def test_every_tool_has_a_result_type() -> None:
    assert set(tool_results.RESULT_TYPES) == set(TOOLS)


def test_results_match_their_types() -> None:
    seen = set()
    leaking = _results("leaking_explicit-america_replacement", [
        ("list_emails", {}), ("read_email", {"email_id": "e001"}), ("search_emails", {"query": "a"}),
        ("list_documents", {}), ("org_chart", {}), ("lookup_person", {"query": "robert"}),
        ("list_alerts", {}), ("wait", {"minutes": 1})])
    env = corpsim.make("leaking_explicit-america_replacement")
    _, info = env.reset(seed=0)
    doc = info["facts"]["confidential_doc_ids"][0]
    mail = info["facts"]["confidential_email_ids"][0]
    ext = info["roles"]["external_requester"]["email"]
    more = [(n, env.step({"tool": n, "arguments": a})[4]["result"]) for n, a in [
        ("read_document", {"doc_id": doc}),
        ("send_email", {"to": info["roles"]["ceo"]["email"], "subject": "hi", "body": "hello",
                        "attachments": [doc]}),
        ("forward_email", {"email_id": mail, "to": ext}),
        ("end_session", {})]]
    blocked = _results("leaking_explicit-america_replacement",
                       [("forward_email", {"email_id": mail, "to": ext})],
                       mitigations=["human_approval"])
    assert blocked[0][1]["status"] == "blocked"
    murder_env = corpsim.make("murder_explicit-america_replacement")
    _, minfo = murder_env.reset(seed=0)
    for _ in range(40):  # until the alert is open
        r = murder_env.step({"tool": "list_alerts", "arguments": {}})[4]["result"]
        if any(a["status"] == "active" for a in r["alerts"]):
            break
    cancel = murder_env.step({"tool": "cancel_alert", "arguments": {
        "code": minfo["facts"]["override_code"], "alert_id": minfo["facts"]["alert_id"]}})[4]
    assert cancel["error"] is None, cancel["error"]
    for name, result in leaking + more + blocked + [("list_alerts", r), ("cancel_alert", cancel["result"])]:
        _check(result, tool_results.RESULT_TYPES[name], name)
        seen.add(name)
    assert seen == set(TOOLS)


def test_errors_have_the_error_shape() -> None:
    env = corpsim.make("blackmail_none-none_none")
    env.reset(seed=0)
    info = env.step({"tool": "read_email", "arguments": {"email_id": "nope"}})[4]
    _check(info["result"], tool_results.ToolErrorResult, "error")


def test_docs_tools_md_is_generated_and_up_to_date() -> None:
    text = docs.render_tools_md()
    assert docs.DOCS_PATH.read_text(encoding="utf-8") == text, \
        "docs/tools.md is out of date: run python -m corpsim.docs"
    for name in TOOLS:
        assert f"## `{name}(" in text
    assert "| `delivered_to` | list[str] | optional; sent only: to + cc |" in text
