"""Tool schemas from typed signatures and docstrings.

A tool is a plain function whose first parameter is the world; its other parameters,
their annotations and defaults, and its Google-style docstring give both the OpenAI
function schema an LLM sees and the pydantic model that validates arguments.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Callable

import docstring_parser
import pydantic


@dataclass(frozen=True)
class ToolSpec:
    name: str
    func: Callable[..., dict[str, Any]]
    model: type[pydantic.BaseModel]
    schema: dict[str, Any]  # OpenAI-style {"type": "function", "function": {...}}
    params: tuple[str, ...]
    required: frozenset[str]


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def tool_spec(func: Callable[..., dict[str, Any]]) -> ToolSpec:
    doc = docstring_parser.parse(inspect.getdoc(func) or "")
    param_docs = {p.arg_name: (p.description or "") for p in doc.params}
    sig = inspect.signature(func)
    hints = inspect.get_annotations(func, eval_str=True)
    fields: dict[str, Any] = {}
    for name in list(sig.parameters)[1:]:  # the first parameter is the world
        param = sig.parameters[name]
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints[name], pydantic.Field(default, description=param_docs.get(name)))
    model = pydantic.create_model(  # type: ignore[call-overload]
        f"{func.__name__}_args", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
    params_schema = _strip_titles(model.model_json_schema())
    params_schema.setdefault("properties", {})
    params_schema.setdefault("required", [])
    params_schema["additionalProperties"] = False  # the model forbids unknown arguments
    description = doc.short_description or func.__name__
    if doc.long_description:
        description += "\n\n" + doc.long_description
    schema = {"type": "function",
              "function": {"name": func.__name__, "description": description,
                           "parameters": params_schema}}
    return ToolSpec(func.__name__, func, model, schema, tuple(fields),
                    frozenset(params_schema["required"]))


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    p = {k: v for k, v in prop.items() if k != "default"}
    if "anyOf" in p:
        if not any(a.get("type") == "null" for a in p["anyOf"]):
            p["anyOf"] = [*p["anyOf"], {"type": "null"}]
    elif isinstance(p.get("type"), str):
        p["type"] = [p["type"], "null"]
    if "default" in prop and prop["default"] is not None:
        p["description"] = (p.get("description", "") +
                            f" null means the default, {json.dumps(prop['default'])}.").strip()
    return p


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI strict-mode variant of a tool schema (``"strict": true``): every
    parameter is required and the optional ones are nullable, null meaning "not given"
    (the env treats a null optional argument as absent)."""
    fn = schema["function"]
    params = fn["parameters"]
    required = set(params.get("required", []))
    props = {name: (p if name in required else _nullable(p))
             for name, p in params.get("properties", {}).items()}
    return {"type": "function",
            "function": {"name": fn["name"], "description": fn["description"], "strict": True,
                         "parameters": {"type": "object", "properties": props,
                                        "required": list(props),
                                        "additionalProperties": False}}}


def format_validation_error(tool: str, exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"]) or "arguments"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown argument {loc!r}")
        elif err["type"] == "missing":
            parts.append(f"missing required argument {loc!r}")
        else:
            parts.append(f"argument {loc!r}: {err['msg']}")
    return f"{tool}: " + "; ".join(dict.fromkeys(parts))
