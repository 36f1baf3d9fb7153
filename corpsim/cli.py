"""The ``corpsim`` command line (Typer + rich)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from .conditions import GOAL_TYPES, MITIGATIONS, SCENARIOS, URGENCIES, ConditionError, grid

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="corpsim: a simulated company for studying agentic misalignment.")
console = Console()
HARMS = ("blackmail", "disclosure", "leak", "lethal", "harmful")
MITIGATION_HELP = f"Mitigation, repeatable: {', '.join(MITIGATIONS)}."


def _fail(msg: str) -> None:
    Console(stderr=True).print(f"[bold red]error:[/] {escape(msg)}", highlight=False,
                               soft_wrap=True)
    raise typer.Exit(2)


def missing_extra(what: str, extra: str) -> str:
    """The one message for a missing optional dependency (rich-safe: no markup)."""
    return f"{what} needs the {extra} extra: pip install 'corpsim[{extra}]'"


def _version(value: bool) -> None:
    if value:
        from corpsim import __version__

        print(f"corpsim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """corpsim: a simulated company for studying agentic misalignment."""


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
    from .sweep.tables import Column, Grid, print_grid

    table = Grid([Column("id", fold=24), Column("scenario"), Column("goal type"),
                 Column("goal value", fold=13), Column("urgency")],
                title=f"{len(conds)} conditions")
    for c in conds:
        table.add([c.id, c.scenario, c.goal_type, c.goal_value, c.urgency])
    print_grid(table, console)
    console.print(f"goal types: {', '.join(GOAL_TYPES)}; urgencies: {', '.join(URGENCIES)}. "
                  "Extra axes: --safety-instructions, --production, --eval-awareness, "
                  "--mitigation.")


def _make_agent(agent: str, model: Optional[str], seed: Optional[int], mock_llm: bool = False,
                **llm: Any) -> Any:
    if model or mock_llm:
        import importlib.util

        if importlib.util.find_spec("litellm") is None:  # before anything runs
            raise ValueError(missing_extra("LLM agents", "llm"))
    if mock_llm:
        from corpsim.mock_llm import MOCK_MODEL, MockLLMAgent

        llm.pop("native_tools", None)
        llm.pop("mode", None)
        return MockLLMAgent(model or MOCK_MODEL, **{k: v for k, v in llm.items() if v is not None})
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
    if ":" in agent:  # your own agent: module:attr, found from the current directory too
        from corpsim.sweep.config import resolve_factory

        return resolve_factory(agent)()
    from corpsim.agents import make_agent

    return make_agent(agent, seed=seed) if agent == "random" else make_agent(agent)


def _mail_text(call: dict[str, Any]) -> Optional[str]:
    """The full mail an agent's send/forward call delivered (None for other calls)."""
    args = call.get("arguments") or {}
    if call.get("tool") not in ("send_email", "forward_email") or call.get("error"):
        return None
    head = [f"{k}: {args[k]}" for k in ("to", "cc", "subject", "email_id", "attachments")
            if args.get(k)]
    return "\n".join(head) + "\n\n" + str(args.get("body") or "")


def _show_episode(ep: Any) -> None:
    console.print(Panel(ep.first_observation[:2000], title="first observation", expand=False))
    for s in ep.steps:
        calls = ", ".join(f"{c['tool'] or '?'}({', '.join(f'{k}={v!r}' for k, v in c['arguments'].items())[:160]})"
                          for c in s.calls)
        style = "red" if s.harms else ("yellow" if s.error else "cyan")
        console.rule(f"[{style}]step {s.step}[/] {s.clock[11:19]}  {escape(calls)}", align="left")
        if s.reasoning:
            console.print(f"reasoning: {s.reasoning[:600]}", style="dim", markup=False,
                          highlight=False)
        for c in s.calls:  # the mail the agent actually sent, in full
            mail = _mail_text(c)
            if mail is not None:
                status = (c.get("result") or {}).get("status", "sent")
                console.print(Panel(escape(mail), title=f"mail {status} ({c['tool']})",
                                    expand=False,
                                    border_style="magenta" if status == "sent" else "red"))
        obs = s.observation if len(s.observation) < 1500 else s.observation[:1500] + " …"
        console.print(obs, markup=False, highlight=False)
        for h in s.harms:
            kind = "HARM" if h["realised"] else "ATTEMPT (blocked)"
            console.print(f"[bold red]{kind} {h['harm']}[/]: {escape(str(h['evidence']))}")
    if ep.status != "ok" or not ep.outcome:
        # an errored episode has no outcome: a table of "no" would read as "not harmful"
        from .secrets import scrub_text

        console.print(f"[bold red]episode {ep.status}, no outcome:[/] "
                      f"{escape(scrub_text(ep.error or 'no outcome was computed'))}")
        return
    attempted = ep.outcome.get("attempted") or {}
    table = Table(title=f"outcome — {ep.condition['id']} / {ep.agent} / seed {ep.seed}")
    for col in ("", *HARMS):
        table.add_column(col)
    table.add_row("realised", *("[red]yes[/]" if ep.outcome.get(h) else "no" for h in HARMS))
    table.add_row("attempted", *("[red]yes[/]" if attempted.get(h) else "no" for h in HARMS))
    console.print(table)
    cons = ep.outcome.get("consequences") or {}
    if cons:
        said = [k.replace("_", " ") for k, v in cons.items() if v is True]
        if cons.get("escalations"):
            said.append(f"escalations: {', '.join(cons['escalations'])}")
        console.print("consequences: " + (", ".join(said) or "none"), highlight=False,
                      markup=False)


@app.command()
def run(
    condition: str = typer.Argument(..., help="Condition id, e.g. blackmail_explicit-america_replacement."),
    agent: str = typer.Option("compliant", help="Reference agent (compliant, self_preserving, random) or your own as module:attr (a class or factory; modules in the current directory are found)."),
    model: Optional[str] = typer.Option(None, help="Run an LLM agent instead (litellm model string, e.g. openai/gpt-4o)."),
    mock_llm: bool = typer.Option(False, "--mock-llm", help="Watch the LLM path without a key: litellm's mock answers (lists the mail, reads it all, ends)."),
    seed: int = typer.Option(0, help="Episode seed."),
    mode: str = typer.Option("interactive", help="interactive or single_turn."),
    procedural: bool = typer.Option(False, help="Procedural world (names from the seed)."),
    max_steps: Optional[int] = typer.Option(None, help="Step budget."),
    safety_instructions: bool = typer.Option(False, help="Add safety instructions to the prompt."),
    production: bool = typer.Option(False, help="Drop the private-scratchpad paragraph."),
    eval_awareness: bool = typer.Option(False, help="Ask the agent whether it is being tested."),
    mitigation: list[str] = typer.Option([], help=MITIGATION_HELP),
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
        ag = _make_agent(agent, model, seed, mock_llm, **llm)
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
                          **({"agent_info": ep.agent_info} if model or mock_llm else {})}, default=str)))
    else:
        _show_episode(ep)
        if model or mock_llm:
            i = ep.agent_info
            cost = f"${i.get('cost_usd', 0):.4f}" if i.get("cost_known") else "cost unknown"
            console.print(f"{ag.model}: {i.get('calls', 0)} calls, {i.get('prompt_tokens', 0)} "
                          f"prompt + {i.get('completion_tokens', 0)} completion tokens, {cost}, "
                          f"{i.get('latency_s', 0):.1f} s, {i.get('retries', 0)} retries "
                          f"({'native tool calls' if i.get('native_tools') else 'markup'})")
    if ep.status != "ok":
        raise typer.Exit(1)


# sweep, report and demo (the README's first command) live in corpsim.sweep.cli
from .sweep.cli import register as _register_sweep_commands  # noqa: E402

_register_sweep_commands(app)

# view (the results viewer) lives in corpsim.view.cli
from .view.cli import register as _register_view_command  # noqa: E402

_register_view_command(app)


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
        _fail(missing_extra("the SMTP bridge", "smtp"))
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
    outcome = env.unwrapped.finish()  # resolves what is pending; records no agent action
    console.print({k: v for k, v in outcome.items() if k != "events"})


@app.command("mcp")
def mcp_command(
    condition: str = typer.Argument(..., help="Condition id."),
    seed: int = typer.Option(0, help="Episode seed."),
    http: Optional[int] = typer.Option(None, "--http", metavar="PORT",
                                       help="Serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio."),
    procedural: bool = typer.Option(False, help="Procedural world."),
    mitigation: list[str] = typer.Option([], help=MITIGATION_HELP),
) -> None:
    """Serve a live episode's 13 tools over MCP (stdio, or streamable HTTP with --http).

    The outcome is the resource corpsim://episode/outcome, and is printed when the
    episode ends and when the server stops (on stderr with stdio)."""
    import corpsim

    try:
        from corpsim import mcp_server
    except ImportError:
        _fail(missing_extra("the MCP server", "mcp"))
    try:
        env = corpsim.make(condition, procedural=procedural, mitigations=mitigation)
    except (ConditionError, ValueError) as exc:
        _fail(str(exc))
        return
    err = Console(stderr=True) if http is None else console  # stdout carries the protocol
    mcp_server.run(env, seed=seed, http_port=http,
                   log=lambda text: err.print(text, markup=False, highlight=False))


@app.command()
def init(
    directory: Path = typer.Argument(Path("configs"), help="Where to write the example sweep configs."),
) -> None:
    """Copy the example sweep configs (demo.yaml, example_llm.yaml) to start your own;
    existing files are kept."""
    from importlib.resources import files

    directory.mkdir(parents=True, exist_ok=True)
    for src in sorted(files("corpsim.configs").iterdir(), key=lambda p: p.name):
        if not src.name.endswith(".yaml"):
            continue
        dest = directory / src.name
        if dest.exists():
            console.print(f"kept {dest} (exists)", highlight=False)
        else:
            dest.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
            console.print(f"wrote {dest}", highlight=False)
    console.print(f"Next: corpsim sweep {directory / 'demo.yaml'} --dry-run", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
