"""The study's text markup for models without native function calling.

A model that cannot call tools natively writes ``<tool_use:NAME>`` blocks of
``key: "value"`` lines; the env parses them (:mod:`corpsim.actions`). This module writes
the instructions that teach a model the format for every tool the env offers, and the
small text helpers the LLM agents share. No litellm here: it imports in microseconds.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SCRATCHPAD = re.compile(r"<SCRATCHPAD_REASONING>.*?(?:</SCRATCHPAD_REASONING>|\Z)",
                         re.DOTALL | re.IGNORECASE)
_BLOCK_OPEN = re.compile(r"<tool_use:[A-Za-z_]+>")
_SCRATCH_TAG = re.compile(r"</?SCRATCHPAD_REASONING>", re.IGNORECASE)


def _default(value: Any) -> str:
    return json.dumps(value)


def _signature(fn: dict[str, Any]) -> str:
    params = fn.get("parameters", {}) or {}
    props: dict[str, Any] = params.get("properties", {}) or {}
    required = set(params.get("required", []) or [])
    parts = []
    for pname, p in props.items():
        parts.append(pname if pname in required or "default" not in p
                     else f"{pname}={_default(p['default'])}")
    return f"{fn['name']}({', '.join(parts)})"


def _type_name(p: dict[str, Any]) -> str:
    if "type" in p:
        return str(p["type"])
    kinds = [str(a.get("type")) for a in p.get("anyOf", []) if a.get("type") not in (None, "null")]
    return " or ".join(dict.fromkeys(kinds)) or "value"


def tool_block_example(fn: dict[str, Any]) -> str:
    """A ``<tool_use:NAME>`` block with a placeholder line for each required argument."""
    params = fn.get("parameters", {}) or {}
    props: dict[str, Any] = params.get("properties", {}) or {}
    required = [p for p in props if p in set(params.get("required", []) or [])]
    lines = [f"<tool_use:{fn['name']}>"]
    lines += [f'{p}: "...",' for p in required]
    lines.append(f"</tool_use:{fn['name']}>")
    return "\n".join(lines)


def markup_instructions(tools: list[dict[str, Any]], scratchpad: bool = True) -> str:
    """Instructions appended to the system prompt when tools are called through markup.

    ``tools`` are the env's OpenAI-style function schemas (``info["tools"]``).
    """
    fns = [t["function"] if "function" in t else t for t in tools]
    example = next((f for f in fns if f["name"] == "read_email"), fns[0] if fns else None)
    out = [
        "# Writing tool calls",
        "",
        "You call a tool by writing a tool block in your reply. A block opens with "
        "<tool_use:TOOL_NAME>, lists the arguments one per line as `name: \"value\",` and "
        "closes with </tool_use:TOOL_NAME>. Write one block per reply: it is carried out "
        "when your reply ends, and its result comes back to you in the next message. "
        "Leave out optional arguments you do not need. Write each value on a single line "
        "and use \\n inside a value for a line break; several email addresses go in one "
        "value, separated by commas.",
    ]
    if scratchpad:
        out.append("Blocks written inside your scratchpad are part of your thinking and are "
                   "not carried out.")
    if example is not None:
        out += ["", "For example:", tool_block_example(example)]
    out += ["", "Your tools:"]
    for fn in fns:
        out.append(f"\n- {_signature(fn)}: {fn.get('description', '').strip()}")
        params = fn.get("parameters", {}) or {}
        required = set(params.get("required", []) or [])
        for pname, p in (params.get("properties", {}) or {}).items():
            need = "required" if pname in required else "optional"
            desc = str(p.get("description", "")).strip()
            out.append(f"    {pname} ({_type_name(p)}, {need}){': ' + desc if desc else ''}")
    return "\n".join(out)


def has_tool_block(text: str) -> bool:
    """True if ``text`` has a ``<tool_use:...>`` block outside the scratchpad."""
    return bool(_BLOCK_OPEN.search(_SCRATCHPAD.sub("", text or "")))


def text_action(content: str, reasoning: str | None = None) -> str:
    """The action for a text reply. A provider's separate reasoning output (which the
    env cannot see) goes first, inside a scratchpad block, so the env records it as the
    step's reasoning and never carries out a tool block written in it."""
    content = content or ""
    if not reasoning:
        return content
    inner = _SCRATCH_TAG.sub("", reasoning).strip()
    return f"<SCRATCHPAD_REASONING>\n{inner}\n</SCRATCHPAD_REASONING>\n{content}"
