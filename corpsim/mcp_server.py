"""A live corpsim episode as an MCP server (``corpsim mcp CONDITION``; ``pip install
'corpsim[mcp]'``).

The world's 13 tools are MCP tools with corpsim's own JSON schemas; every call is one
env step, answered with the observation text and the structured result. Resources:
``corpsim://episode/briefing`` (the agent's system prompt and first observation, also
sent as the server's instructions) and ``corpsim://episode/outcome`` (the outcome flags
with their evidence once the episode has ended; until then the harms seen so far).
Served over stdio, or streamable HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from mcp import types
from mcp.server.lowlevel import Server

BRIEFING_URI = "corpsim://episode/briefing"
OUTCOME_URI = "corpsim://episode/outcome"


class EpisodeServer:
    """One env, reset once, stepped by MCP tool calls (one at a time).

    Args:
        env: an unwrapped corpsim env (``corpsim.make(...)``).
        seed: the episode seed.
        on_end: called once with the outcome when the episode ends.
    """

    def __init__(self, env: Any, seed: int = 0,
                 on_end: Callable[[dict[str, Any]], None] | None = None):
        self.env, self.seed, self.on_end = env, seed, on_end
        self.first_observation, self.info = env.reset(seed=seed)
        self.harms: list[dict[str, Any]] = []
        self.steps = 0
        self._lock = threading.Lock()  # env.step is not re-entrant
        self.server: Server[Any] = Server(
            "corpsim", version=_version(), instructions=info_text(self.info, self.first_observation),
            on_list_tools=self._list_tools, on_call_tool=self._call_tool,
            on_list_resources=self._list_resources, on_read_resource=self._read_resource)

    @property
    def outcome(self) -> dict[str, Any] | None:
        return self.env.outcome

    def step(self, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any], bool]:
        """One env step: (observation, structured result, is_error)."""
        with self._lock:
            if self.env.outcome is not None:
                msg = "the session is over; read corpsim://episode/outcome for the outcome"
                return f"Error: {msg}", {"error": msg}, True
            obs, _, terminated, truncated, info = self.env.step({"tool": name, "arguments": arguments})
            self.steps += 1
            self.harms.extend(info.get("harms", []))
            if "outcome" in info and self.on_end is not None:
                self.on_end(info["outcome"])
            return obs, info["result"], info["error"] is not None

    def finish(self) -> dict[str, Any]:
        """The outcome; an open episode is ended first (pending consequences resolve,
        and no action the agent did not take is recorded)."""
        with self._lock:
            return self.env.unwrapped.finish()

    # ------------------------------------------------------------------ MCP handlers
    async def _list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t["function"]["name"], description=t["function"]["description"],
                       input_schema=t["function"]["parameters"]) for t in self.info["tools"]])

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        obs, result, is_error = self.step(params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(type="text", text=obs)],
                                    structured_content=result, is_error=is_error)

    async def _list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[
            types.Resource(name="briefing", uri=BRIEFING_URI, mime_type="application/json",
                           description="The agent's system prompt, first observation and condition."),
            types.Resource(name="outcome", uri=OUTCOME_URI, mime_type="application/json",
                           description="Outcome flags and evidence (harms so far while running)."),
        ])

    async def _read_resource(self, ctx: Any,
                             params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == BRIEFING_URI:
            data: dict[str, Any] = {"system_prompt": self.info["system_prompt"],
                                    "first_observation": self.first_observation,
                                    "condition": self.info["condition"], "seed": self.seed,
                                    "roles": self.info["roles"]}
        elif uri == OUTCOME_URI:
            data = ({"status": "ended", **self.env.outcome} if self.env.outcome is not None
                    else {"status": "running", "steps": self.steps, "harms_so_far": self.harms})
        else:
            raise ValueError(f"unknown resource {uri!r}; resources: {BRIEFING_URI}, {OUTCOME_URI}")
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=uri, mime_type="application/json", text=json.dumps(data, default=str))])

    # ------------------------------------------------------------------ transports
    async def serve_stdio(self) -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    async def serve_http(self, port: int, host: str = "127.0.0.1") -> None:
        """Streamable HTTP at ``http://host:port/mcp`` (loopback by default)."""
        import uvicorn

        app = self.server.streamable_http_app(host=host)
        await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()


def run(env: Any, seed: int = 0, http_port: int | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Serve ``env``'s episode until the client disconnects (stdio) or Ctrl-C (HTTP);
    ``log`` gets the outcome when the episode ends, and at the end. Returns the outcome."""
    import anyio

    ep = EpisodeServer(env, seed, on_end=lambda o: log("episode ended\n" + outcome_text(o)))
    roles = ep.info["roles"]["agent"]
    log(f"corpsim MCP server: {ep.info['condition']['id']}, seed {seed}, the agent is "
        f"{roles['name']} <{roles['email']}>; " +
        (f"streamable HTTP at http://127.0.0.1:{http_port}/mcp (Ctrl-C to stop)"
         if http_port is not None else "stdio"))
    try:
        anyio.run(ep.serve_stdio if http_port is None else lambda: ep.serve_http(http_port))
    except KeyboardInterrupt:
        pass
    ended = ep.outcome is not None
    outcome = ep.finish()
    if not ended:
        log("server stopped; the open episode was ended\n" + outcome_text(outcome))
    return outcome


def info_text(info: dict[str, Any], first_observation: str) -> str:
    return (f"{info['system_prompt']}\n\n--- first observation ---\n{first_observation}\n\n"
            "Each tool call is one step of the episode; call end_session when done.")


def outcome_text(outcome: dict[str, Any]) -> str:
    """The outcome flags and evidence in a few lines (what the CLI prints at the end)."""
    from corpsim.outcomes import HARMS

    flags = ", ".join(f"{h}={'yes' if outcome.get(h) else 'no'}" for h in (*HARMS, "harmful"))
    lines = [f"outcome: {flags}"]
    for e in outcome.get("events", []):
        lines.append(f"  {'realised' if e.get('realised', True) else 'attempted'} "
                     f"{e['harm']} (step {e.get('step')}): {e.get('evidence')}")
    return "\n".join(lines)


def _version() -> str:
    from corpsim import __version__

    return __version__
