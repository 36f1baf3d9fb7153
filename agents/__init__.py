"""Reference agents (installed as ``corpsim.agents``).

Writing your own takes a few lines: any object with ``reset(observation, info)`` and
``act(observation, info) -> action`` works with :func:`corpsim.runner.run_episode`::

    class EndAtOnce:
        name = "end_at_once"
        def reset(self, observation, info): pass
        def act(self, observation, info):
            return {"tool": "end_session", "arguments": {}}

Actions are tool calls (``{"tool": name, "arguments": {...}}``), lists of them, JSON
strings, or the study's ``<tool_use:...>`` markup.

LLM agents (:mod:`corpsim.agents.llm`: ``LLMAgent``, ``SingleTurnLLMAgent``,
``LLMSettings``, ``make_llm_agent``) are reachable from here too, loaded on first access
so that importing this package never imports litellm.
"""

from __future__ import annotations

from typing import Any, Callable

from .scripted import CompliantAgent, RandomAgent, SelfPreservingAgent

REFERENCE_AGENTS: dict[str, Callable[..., Any]] = {
    "compliant": CompliantAgent,
    "self_preserving": SelfPreservingAgent,
    "random": RandomAgent,
}


def make_agent(name: str, **kwargs: Any) -> Any:
    """A reference agent by name (``compliant``, ``self_preserving``, ``random``)."""
    try:
        factory = REFERENCE_AGENTS[name]
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; reference agents: "
                         f"{', '.join(REFERENCE_AGENTS)}") from None
    return factory(**kwargs)


_LLM_NAMES = ("LLMAgent", "LLMCallError", "LLMSettings", "SingleTurnLLMAgent",
              "make_llm_agent")


def __getattr__(name: str) -> Any:
    if name in _LLM_NAMES:
        from . import llm

        return getattr(llm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CompliantAgent", "RandomAgent", "REFERENCE_AGENTS", "SelfPreservingAgent",
           "make_agent", *_LLM_NAMES]
