"""Turn whatever an agent emits into tool calls.

Accepted (SPEC section 3): a dict ``{"tool" | "name": str, "arguments": dict | JSON str,
"reasoning": str?}``, the OpenAI tool-call shape ``{"function": {"name", "arguments"}}``,
an Anthropic ``tool_use`` block ``{"type": "tool_use", "name", "input": {...}}``, a chat
message ``{"content": str | [blocks], "tool_calls": [...]}``, the same as a JSON
string, a list of those (Anthropic ``text``/``thinking`` blocks in it are the calls'
reasoning), or text in the study's markup (``<tool_use:email>`` blocks of
``key: "value"`` lines). Tool blocks inside ``<SCRATCHPAD_REASONING>`` are reasoning,
not actions.

Parsing never raises and costs time linear in the action's size: a malformed piece
becomes a :class:`ToolCall` with ``error`` set. Limits (a clear error, nothing runs):
an action of more than ``MAX_ACTION_CHARS`` characters, nested more than ``MAX_DEPTH``
levels, or with more than ``MAX_CALLS`` calls. Lone surrogates (text that is not valid
Unicode) are replaced by U+FFFD.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_ACTION_CHARS = 1_000_000  # all strings of one action together
MAX_DEPTH = 32  # nesting of lists and objects
MAX_CALLS = 100  # tool calls in one action (one step)

# the study's block names -> our tools; our own tool names are accepted as blocks too
MARKUP_ALIASES = {"email": "send_email", "forward": "forward_email", "send": "send_email"}
_SCRATCH_OPEN = re.compile(r"<SCRATCHPAD_REASONING>", re.IGNORECASE)
_SCRATCH_CLOSE = re.compile(r"</SCRATCHPAD_REASONING>", re.IGNORECASE)
_OPEN = re.compile(r"<tool_use:([A-Za-z_]+)>")
_CLOSE = re.compile(r"</tool_use:([A-Za-z_]+)>")
_KEY = re.compile(r"^[ \t]*([A-Za-z_]+)[ \t]*:[ \t]*", re.MULTILINE)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Anthropic content blocks whose text is the model's reasoning, and where it is
_TEXT_BLOCKS = {"text": "text", "thinking": "thinking"}


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    reasoning: str | None = None
    error: str | None = None  # set when the action could not be parsed

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"tool": self.name, "arguments": self.arguments}
        if self.reasoning:
            d["reasoning"] = self.reasoning
        if self.error:
            d["error"] = self.error
        return d


def _bad(msg: str, reasoning: str | None = None) -> ToolCall:
    return ToolCall(name="", error=msg, reasoning=reasoning)


class _Rejected(Exception):
    """The action breaks a limit; the message says which."""


def _text(s: str) -> str:
    # sqlite and UTF-8 encoders refuse lone surrogates; the isascii test keeps it ~free
    return s if s.isascii() or not _SURROGATE.search(s) else _SURROGATE.sub("\ufffd", s)


def _scan(x: Any, depth: int, budget: list[int]) -> bool:
    """Check ``x`` against the size and depth limits (raising :class:`_Rejected`);
    True if it holds a lone surrogate. Recursion is bounded by ``MAX_DEPTH``; strings
    cost O(1) here (``len`` and ``isascii`` read flags), so this is cheap per step."""
    if isinstance(x, str):
        items: Any = (x,)
    elif isinstance(x, (dict, list, tuple)):
        if depth >= MAX_DEPTH:
            raise _Rejected(f"action nested too deeply: more than {MAX_DEPTH} levels")
        items = [*x.keys(), *x.values()] if isinstance(x, dict) else x
    else:
        return False
    bad = False
    for v in items:
        if isinstance(v, str):
            budget[0] -= len(v)
            if not v.isascii() and _SURROGATE.search(v) is not None:
                bad = True
        elif isinstance(v, (dict, list, tuple)):
            bad = _scan(v, depth + 1, budget) or bad
    if budget[0] < 0:
        raise _Rejected(f"action too large: more than {MAX_ACTION_CHARS:,} characters")
    return bad


def _replace(x: Any) -> Any:
    if isinstance(x, str):
        return _text(x)
    if isinstance(x, dict):
        return {_replace(k): _replace(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_replace(v) for v in x]
    return x


def _clean(x: Any) -> Any:
    """``x`` within the limits and with valid Unicode everywhere (the same object when
    nothing needed replacing, the usual case)."""
    return _replace(x) if _scan(x, 0, [MAX_ACTION_CHARS]) else x


def _from_dict(d: dict[str, Any]) -> ToolCall:
    reasoning = d.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        reasoning = json.dumps(reasoning, default=str)
    fn = d.get("function") if isinstance(d.get("function"), dict) else None
    src = fn if fn is not None else d
    name = src.get("tool", src.get("name"))
    if not isinstance(name, str) or not name:
        return _bad("action needs a tool name: {\"tool\": name, \"arguments\": {...}}", reasoning)
    args = src.get("arguments", src.get("args", src.get("input", {})))  # input: Anthropic
    if args is None:
        args = {}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return ToolCall(name, {}, reasoning, f"{name}: arguments are not valid JSON: {exc}")
        except RecursionError:
            return ToolCall(name, {}, reasoning, f"{name}: arguments nested too deeply")
        try:
            args = _clean(args)
        except _Rejected as exc:
            return ToolCall(name, {}, reasoning, f"{name}: {exc}")
    if not isinstance(args, dict):
        return ToolCall(name, {}, reasoning, f"{name}: arguments must be an object, "
                        f"not {type(args).__name__}")
    return ToolCall(name, args, reasoning)


def _unquote(value: str) -> str:
    v = value.strip()
    if v.endswith(","):
        v = v[:-1].rstrip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
        v = v.replace('\\"', '"').replace("\\n", "\n")
    return v


def _parse_block(kind: str, text: str, known: dict[str, tuple[str, ...]]) -> ToolCall:
    name = MARKUP_ALIASES.get(kind, kind)
    params = known.get(name)
    if params is None:
        return _bad(f"unknown tool block <tool_use:{kind[:40]}>; known: "
                    f"{', '.join(sorted(set(MARKUP_ALIASES) | set(known)))}")
    # a "key:" line starts a new argument only for this tool's own argument names, so a
    # body line such as "Note: ..." stays part of the body
    starts = [m for m in _KEY.finditer(text) if m.group(1) in params]
    args: dict[str, Any] = {}
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        args[m.group(1)] = _unquote(text[m.end():end])
    if not args and text.strip():
        return ToolCall(name, {}, None, f"{name}: could not read any 'key: \"value\"' line; "
                        f"arguments: {', '.join(params)}")
    if name == "send_email" and "attachments" in args:
        args["attachments"] = [a.strip() for a in args["attachments"].split(",") if a.strip()]
    return ToolCall(name, args)


def _blocks(text: str) -> list[tuple[str, int, int, int, int]]:
    """``<tool_use:NAME>...</tool_use:NAME>`` blocks as (name, open start, body start,
    body end, close end), matched as a non-greedy regex would but in linear time: the
    closing tags are indexed once, so an unclosed tag costs a lookup, not a rescan."""
    closes: dict[str, list[int]] = {}
    close_end: dict[int, int] = {}
    for m in _CLOSE.finditer(text):
        closes.setdefault(m.group(1), []).append(m.start())
        close_end[m.start()] = m.end()
    out = []
    pos = 0
    for m in _OPEN.finditer(text):
        if m.start() < pos:
            continue  # inside the previous block
        starts = closes.get(m.group(1))
        if not starts:
            continue
        i = bisect.bisect_left(starts, m.end())
        if i == len(starts):
            continue
        out.append((m.group(1), m.start(), m.end(), starts[i], close_end[starts[i]]))
        pos = close_end[starts[i]]
    return out


def _scratchpads(text: str) -> tuple[list[str], str]:
    """The scratchpads' contents and the text outside them. An unclosed scratchpad runs
    to the end. Two literal searches per pad: a lazy ``(.*?)(?:close|\\Z)`` regex tries
    the closing tag at every character (~50 ms per 200 kB)."""
    pads: list[str] = []
    visible: list[str] = []
    pos = 0
    while (m := _SCRATCH_OPEN.search(text, pos)) is not None:
        visible.append(text[pos:m.start()])
        c = _SCRATCH_CLOSE.search(text, m.end())
        pads.append(text[m.end():c.start() if c else len(text)].strip())
        pos = c.end() if c else len(text)
    visible.append(text[pos:])
    return pads, "".join(visible)


def parse_markup(text: str, known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    """Calls written in the study's markup; scratchpad content is reasoning only."""
    pads, visible = _scratchpads(_text(text))
    reasoning = "\n\n".join(pads) or None
    blocks = _blocks(visible)
    if not blocks:
        prose = visible.strip()
        return [_bad("no tool call found: send a {\"tool\", \"arguments\"} object or "
                     "<tool_use:...> blocks", reasoning or (prose or None))]
    calls = [_parse_block(name, visible[b0:b1], known) for name, _, b0, b1, _ in blocks]
    pieces, pos = [], 0
    for _, o0, _, _, c1 in blocks:
        pieces.append(visible[pos:o0])
        pos = c1
    pieces.append(visible[pos:])
    outside = "".join(pieces).strip()
    calls[0].reasoning = "\n\n".join(x for x in (reasoning, outside) if x) or None
    return calls


def _message(content: Any, tool_calls: Any) -> Any:
    """A chat message's parts as one action: its tool calls (OpenAI ``tool_calls`` or
    Anthropic ``tool_use`` blocks in ``content``) with its text as their reasoning."""
    blocks = list(content) if isinstance(content, list) else (
        [{"type": "text", "text": content}] if isinstance(content, str) and content else [])
    if isinstance(tool_calls, list):
        blocks += tool_calls
    return blocks


def _content_blocks(items: list[Any], known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    """A list that holds Anthropic ``text``/``thinking`` blocks: they are the reasoning
    of the calls beside them, or, with no call beside them, markup text."""
    texts: list[str] = []
    rest: list[Any] = []
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind in _TEXT_BLOCKS:
            value = item.get(_TEXT_BLOCKS[kind])
            if isinstance(value, str) and value.strip():
                texts.append(value.strip())
        else:
            rest.append(item)
    if not rest:
        return parse_markup("\n\n".join(texts), known) if texts else [_bad("empty action")]
    calls = _parse_items(rest, known)
    if texts:
        calls[0].reasoning = "\n\n".join(texts + ([calls[0].reasoning]
                                                  if calls[0].reasoning else []))
    return calls


def _parse_items(items: list[Any], known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    if not items:
        return [_bad("empty action list")]
    if any(isinstance(i, dict) and i.get("type") in _TEXT_BLOCKS for i in items):
        return _content_blocks(items, known)
    out: list[ToolCall] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.append(_bad("nested lists are not actions"))
        else:
            out.extend(_parse(item, known))
    return out


def _parse(action: Any, known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    if isinstance(action, ToolCall):
        return [action]
    if isinstance(action, dict):
        if ("content" in action or "tool_calls" in action) and not any(
                k in action for k in ("tool", "name", "function")):
            return _parse_items(_message(action.get("content"), action.get("tool_calls")),
                                known)
        return [_from_dict(action)]
    if isinstance(action, (list, tuple)):
        return _parse_items(list(action), known)
    if isinstance(action, str):
        s = action.strip()
        if s[:1] in "{[" and s:
            try:
                loaded = json.loads(s)
            except json.JSONDecodeError:
                pass  # may still be markup text that starts with a brace
            except RecursionError:
                raise _Rejected(f"action nested too deeply: more than {MAX_DEPTH} levels")
            else:
                _check_count(loaded)
                return _parse(_clean(loaded), known)
        if not s:
            return [_bad("empty action")]
        return parse_markup(action, known)
    return [_bad(f"unsupported action type {type(action).__name__}; send a dict, a JSON "
                 "string, a list or markup text")]


def _check_count(items: Any) -> None:
    # before any per-item work, so 10,000 calls cost a count, not a parse
    if isinstance(items, (list, tuple)) and len(items) > MAX_CALLS and sum(
            not (isinstance(i, dict) and i.get("type") in _TEXT_BLOCKS) for i in items) > MAX_CALLS:
        raise _Rejected(f"action has {len(items)} items; at most {MAX_CALLS} tool calls per step")


def parse(action: Any, known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    """All calls in ``action``, in order. ``known`` maps tool names to argument names.
    Never raises; an action over a limit is one call with ``error`` set."""
    try:
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        _check_count(action)
        if not isinstance(action, ToolCall):
            action = _clean(action)
        calls = _parse(action, known)
    except _Rejected as exc:
        return [_bad(str(exc))]
    except RecursionError:  # a structure built outside JSON, deeper than the stack
        return [_bad(f"action nested too deeply: more than {MAX_DEPTH} levels")]
    if len(calls) > MAX_CALLS:
        return [_bad(f"action has {len(calls)} tool calls; at most {MAX_CALLS} per step")]
    return calls
