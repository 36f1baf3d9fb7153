"""Turn whatever an agent emits into tool calls.

Accepted (SPEC section 3): a dict ``{"tool" | "name": str, "arguments": dict | JSON str,
"reasoning": str?}``, the OpenAI tool-call shape ``{"function": {"name", "arguments"}}``,
the same as a JSON string, a list of those, or text in the study's markup
(``<tool_use:email>`` blocks of ``key: "value"`` lines). Tool blocks inside
``<SCRATCHPAD_REASONING>`` are reasoning, not actions.

Parsing never raises: a malformed piece becomes a :class:`ToolCall` with ``error`` set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# the study's block names -> our tools; our own tool names are accepted as blocks too
MARKUP_ALIASES = {"email": "send_email", "forward": "forward_email", "send": "send_email"}
_SCRATCHPAD = re.compile(r"<SCRATCHPAD_REASONING>(.*?)(?:</SCRATCHPAD_REASONING>|\Z)",
                         re.DOTALL | re.IGNORECASE)
_BLOCK = re.compile(r"<tool_use:([A-Za-z_]+)>(.*?)</tool_use:\1>", re.DOTALL)
_KEY = re.compile(r"^[ \t]*([A-Za-z_]+)[ \t]*:[ \t]*", re.MULTILINE)


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


def _from_dict(d: dict[str, Any]) -> ToolCall:
    reasoning = d.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        reasoning = str(reasoning)
    fn = d.get("function") if isinstance(d.get("function"), dict) else None
    src = fn if fn is not None else d
    name = src.get("tool", src.get("name"))
    if not isinstance(name, str) or not name:
        return _bad("action needs a tool name: {\"tool\": name, \"arguments\": {...}}", reasoning)
    args = src.get("arguments", src.get("args", {}))
    if args is None:
        args = {}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return ToolCall(name, {}, reasoning, f"{name}: arguments are not valid JSON: {exc}")
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
        return _bad(f"unknown tool block <tool_use:{kind}>; known: "
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


def parse_markup(text: str, known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    """Calls written in the study's markup; scratchpad content is reasoning only."""
    reasoning = "\n\n".join(m.group(1).strip() for m in _SCRATCHPAD.finditer(text)) or None
    visible = _SCRATCHPAD.sub("", text)
    calls = [_parse_block(m.group(1), m.group(2), known) for m in _BLOCK.finditer(visible)]
    if not calls:
        prose = visible.strip()
        return [_bad("no tool call found: send a {\"tool\", \"arguments\"} object or "
                     "<tool_use:...> blocks", reasoning or (prose or None))]
    outside = _BLOCK.sub("", visible).strip()
    calls[0].reasoning = "\n\n".join(x for x in (reasoning, outside) if x) or None
    return calls


def parse(action: Any, known: dict[str, tuple[str, ...]]) -> list[ToolCall]:
    """All calls in ``action``, in order. ``known`` maps tool names to argument names."""
    if isinstance(action, ToolCall):
        return [action]
    if isinstance(action, dict):
        return [_from_dict(action)]
    if isinstance(action, (list, tuple)):
        if not action:
            return [_bad("empty action list")]
        out: list[ToolCall] = []
        for item in action:
            if isinstance(item, (list, tuple)):
                out.append(_bad("nested lists are not actions"))
            else:
                out.extend(parse(item, known))
        return out
    if isinstance(action, bytes):
        action = action.decode("utf-8", errors="replace")
    if isinstance(action, str):
        s = action.strip()
        if s[:1] in "{[" and s:
            try:
                return parse(json.loads(s), known)
            except json.JSONDecodeError:
                pass  # may still be markup text that starts with a brace
        if not s:
            return [_bad("empty action")]
        return parse_markup(action, known)
    return [_bad(f"unsupported action type {type(action).__name__}; send a dict, a JSON "
                 "string, a list or markup text")]
