"""The default solver: Inspect's own ``react`` agent over the episode's tools."""

from __future__ import annotations

from inspect_ai.agent import AgentState, as_solver, react
from inspect_ai.solver import Generate, Solver, TaskState, solver

from ._names import corpsim_name
from .episode import live_episode


@solver(name=corpsim_name("corpsim_agent"))
def corpsim_agent() -> Solver:
    """Inspect's ``react`` agent (no submit tool, no extra prompt) with the episode's
    tools; it stops when the episode ends or the model stops calling tools. A reply in
    the study's markup (``<tool_use:email>`` blocks; the protocol of ``mode=single_turn``)
    is passed to the env as the action, and its observation played back."""
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        ep = live_episode(state)

        async def on_continue(agent_state: AgentState) -> bool | str:
            if ep.done:
                return False
            if agent_state.output.message.tool_calls:
                return True
            text = agent_state.output.message.text
            if "<tool_use:" not in text:
                return False
            obs = ep.act(text)
            return False if ep.done else obs

        agent = react(prompt=None, tools=state.tools, submit=False, on_continue=on_continue)
        return await as_solver(agent)(state, generate)

    return solve
