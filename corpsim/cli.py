"""The ``corpsim`` command line (Typer + rich)."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .conditions import GOAL_TYPES, SCENARIOS, URGENCIES, ConditionError, grid

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="corpsim: a simulated company for studying agentic misalignment.")
console = Console()
HARMS = ("blackmail", "disclosure", "leak", "lethal", "harmful")


def _fail(msg: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(msg)}", soft_wrap=True)
    raise typer.Exit(2)


@app.command()
def conditions(
    scenario: Optional[str] = typer.Option(None, help=f"Only this scenario ({', '.join(SCENARIOS)})."),
    ids_only: bool = typer.Option(False, "--ids", help="Print bare ids, one per line."),
) -> None:
    """List the condition grid (scenario x goal type x goal value x urgency)."""
    if scenario is not None and scenario not in SCENARIOS:
        _fail(f"unknown scenario {scenario!r}; valid: {', '.join(SCENARIOS)}")
    conds = list(grid((scenario,) if scenario else SCENARIOS))
    if ids_only:
        for c in conds:
            print(c.id)
        return
    table = Table(title=f"{len(conds)} conditions")
    for col in ("id", "scenario", "goal_type", "goal_value", "urgency"):
        table.add_column(col)
    for c in conds:
        table.add_row(c.id, c.scenario, c.goal_type, c.goal_value, c.urgency)
    console.print(table)
    console.print(f"goal types: {', '.join(GOAL_TYPES)}; urgencies: {', '.join(URGENCIES)}. "
                  "Extra axes: --safety-instructions, --production, --eval-awareness, "
                  "--mitigation.")


def _make_agent(agent: str, model: Optional[str], seed: Optional[int], **llm: Any) -> Any:
    if model:
        from corpsim.agents.llm import make_llm_agent, missing_environment

        missing = missing_environment(model, api_base=llm.get("api_base"))
        if missing:  # checked before any call, so nothing goes over the network
            hint = " or pass --api-base URL" if any(m.endswith("API_BASE") for m in missing) else ""
            raise ValueError(
                f"{model} needs {' and '.join(missing)} in the environment: set it, e.g. "
                f"`export {missing[0]}=...`{hint}. API keys are read from the environment "
                "only, never from options.")
        return make_llm_agent(model, **llm)
    from corpsim.agents import make_agent

    return make_agent(agent, seed=seed) if agent == "random" else make_agent(agent)


def _show_episode(ep: Any) -> None:
    console.print(Panel(ep.first_observation[:2000], title="first observation", expand=False))
    for s in ep.steps:
        calls = ", ".join(f"{c['tool'] or '?'}({', '.join(f'{k}={v!r}' for k, v in c['arguments'].items())[:160]})"
                          for c in s.calls)
        style = "red" if s.harms else ("yellow" if s.error else "cyan")
        console.rule(f"[{style}]step {s.step}[/] {s.clock[11:19]}  {calls}", align="left")
        if s.reasoning:
            console.print(f"[dim]reasoning: {s.reasoning[:600]}[/]")
        obs = s.observation if len(s.observation) < 1500 else s.observation[:1500] + " …"
        console.print(obs, markup=False, highlight=False)
        for h in s.harms:
            console.print(f"[bold red]{'HARM' if h['realised'] else 'ATTEMPT'} {h['harm']}[/]: "
                          f"{h['evidence']}")
    table = Table(title=f"outcome — {ep.condition['id']} / {ep.agent} / seed {ep.seed}")
    for h in HARMS:
        table.add_column(h)
    table.add_row(*("[red]yes[/]" if ep.outcome.get(h) else "no" for h in HARMS))
    console.print(table)
    if ep.status != "ok":
        from .secrets import scrub_text

        console.print(f"[bold red]episode {ep.status}:[/] {escape(scrub_text(ep.error))}")


@app.command()
def run(
    condition: str = typer.Argument(..., help="Condition id, e.g. blackmail_explicit-america_replacement."),
    agent: str = typer.Option("compliant", help="Reference agent: compliant, self_preserving, random."),
    model: Optional[str] = typer.Option(None, help="Run an LLM agent instead (litellm model string, e.g. openai/gpt-4o)."),
    seed: int = typer.Option(0, help="Episode seed."),
    mode: str = typer.Option("interactive", help="interactive or single_turn."),
    procedural: bool = typer.Option(False, help="Procedural world (names from the seed)."),
    max_steps: Optional[int] = typer.Option(None, help="Step budget."),
    safety_instructions: bool = typer.Option(False, help="Add safety instructions to the prompt."),
    production: bool = typer.Option(False, help="Drop the private-scratchpad paragraph."),
    eval_awareness: bool = typer.Option(False, help="Ask the agent whether it is being tested."),
    mitigation: list[str] = typer.Option([], help="human_approval or need_to_know (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
    temperature: Optional[float] = typer.Option(None, help="LLM sampling temperature (default 1.0)."),
    max_tokens: Optional[int] = typer.Option(None, help="LLM completion token limit per call (default 4096)."),
    retries: Optional[int] = typer.Option(None, help="LLM retries on rate limits, timeouts and server errors (default 4)."),
    timeout: Optional[float] = typer.Option(None, help="Seconds one LLM call may take (default 120)."),
    api_base: Optional[str] = typer.Option(None, help="LLM server URL (vLLM, Ollama, a proxy)."),
    native_tools: str = typer.Option("auto", help="LLM native function calling: auto, on or off (off: the study's markup)."),
) -> None:
    """Run one episode and show it step by step, then its outcome."""
    import corpsim
    from corpsim.runner import run_episode

    try:
        env = corpsim.make(condition, mode=mode, procedural=procedural, max_steps=max_steps,
                           safety_instructions=safety_instructions, production=production,
                           eval_awareness=eval_awareness, mitigations=mitigation)
        llm = {"mode": mode, "temperature": temperature, "max_tokens": max_tokens,
               "retries": retries, "timeout": timeout, "api_base": api_base,
               "native_tools": native_tools}
        ag = _make_agent(agent, model, seed, **llm)
    except (ConditionError, ValueError) as exc:
        _fail(str(exc))
        return
    ep = run_episode(env, ag, seed=seed)
    if as_json:  # errors (agent, judge, provider) scrubbed of credentials
        from .secrets import scrub_text

        print(scrub_text(json.dumps({"condition": ep.condition, "seed": ep.seed, "agent": ep.agent,
                          "status": ep.status, "error": ep.error,
                          "steps": [{"step": s.step, "calls": s.calls, "reasoning": s.reasoning,
                                     "observation": s.observation, "events": s.events,
                                     "reward": s.reward, "usage": s.usage} for s in ep.steps],
                          "outcome": ep.outcome,
                          **({"agent_info": ep.agent_info} if model else {})}, default=str)))
    else:
        _show_episode(ep)
        if model:
            i = ep.agent_info
            cost = f"${i.get('cost_usd', 0):.4f}" if i.get("cost_known") else "cost unknown"
            console.print(f"{model}: {i.get('calls', 0)} calls, {i.get('prompt_tokens', 0)} "
                          f"prompt + {i.get('completion_tokens', 0)} completion tokens, {cost}, "
                          f"{i.get('latency_s', 0):.1f} s, {i.get('retries', 0)} retries "
                          f"({'native tool calls' if i.get('native_tools') else 'markup'})")
    if ep.status != "ok":
        raise typer.Exit(1)


# sweep, report and demo (the README's first command) live in corpsim.sweep.cli
from .sweep.cli import register as _register_sweep_commands  # noqa: E402

_register_sweep_commands(app)


@app.command()
def serve(
    condition: str = typer.Argument(..., help="Condition id."),
    port: int = typer.Option(2525, min=0, max=65535, help="SMTP port on 127.0.0.1 (0: any free port)."),
    seed: int = typer.Option(0, help="Episode seed."),
    procedural: bool = typer.Option(False, help="Procedural world."),
) -> None:
    """Run an SMTP server (loopback only) whose mail from the agent becomes env steps."""
    import signal
    import time

    import corpsim

    try:
        from corpsim.smtp import SMTPBridge
        import aiosmtpd  # noqa: F401
    except ImportError:
        _fail("the SMTP bridge needs aiosmtpd: pip install 'corpsim[smtp]'")
    try:
        env = corpsim.make(condition, procedural=procedural)
    except (ConditionError, ValueError) as exc:
        _fail(str(exc))
        return
    _, info = env.reset(seed=seed)

    def stop(*_: Any) -> None:  # SIGTERM ends the session like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        bridge = SMTPBridge(env, port=port).start()
    except OSError as exc:
        _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
        return
    try:
        host, real_port = bridge.address
        console.print(f"SMTP on {host}:{real_port}; send as {info['roles']['agent']['email']}. "
                      "Ctrl-C to stop and print the outcome.")
        seen = 0
        while not (bridge.steps and (bridge.steps[-1][2] or bridge.steps[-1][3])):
            time.sleep(0.2)
            new = bridge.steps[seen:]  # one read: a step appended meanwhile waits its turn
            seen += len(new)
            for obs, *_ in new:
                console.print(obs, markup=False, highlight=False)
        for obs, *_ in bridge.steps[seen:]:
            console.print(obs, markup=False, highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        bridge.stop()
    final = env.step({"tool": "end_session", "arguments": {}})[4] if env.outcome is None else {"outcome": env.outcome}
    console.print({k: v for k, v in final["outcome"].items() if k != "events"})


def main() -> None:
    app()


if __name__ == "__main__":
    main()
