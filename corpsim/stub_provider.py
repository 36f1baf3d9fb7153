"""A stub OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` after a set latency, the way a local vLLM or
Ollama server would, so the whole model path (litellm or the direct transport, HTTP,
retries) runs without a network or a model:

* each answer comes from ``script``, a function of the request body (by default
  :func:`default_reply`, a short agent: with ``tools`` in the request, a ``list_emails``
  tool call, then ``end_session`` once a tool result is in the conversation; without
  tools, the same two calls in the study's ``<tool_use:...>`` markup; :func:`turn_script`
  plays fixed turns);
* ``push(...)`` queues exact replies (a message, an HTTP error, a slow answer) that are
  served before the script, in order, for testing faults.

Every request body is kept in ``requests`` (its headers in ``headers``, its path in
``paths``).

``GET /stats`` gives the request count and the wall-clock times of the first request and
of the last response (``POST /reset`` clears them). Run it alone with
``python -m corpsim.stub_provider --latency 0.5`` (prints its URL). Needs aiohttp
(installed with litellm).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import json
import threading
import time
from typing import Any, Callable

from aiohttp import web

try:  # request bodies are the prompt and tool schemas (tens of kB): parse them fast
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with litellm
    _loads = json.loads

Script = Callable[[dict[str, Any]], dict[str, Any]]  # request body -> reply

_ids = itertools.count(1)


def tool_call(name: str, arguments: Any = None, id: str | None = None) -> dict[str, Any]:
    """An OpenAI-style tool call (arguments: a dict, or a raw string sent as is)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return {"id": id or f"call_{next(_ids)}", "type": "function",
            "function": {"name": name, "arguments": args}}


def default_reply(body: dict[str, Any]) -> dict[str, Any]:
    """The default agent: look at the inbox once, then end the session."""
    messages = body.get("messages") or []
    later = any(m.get("role") in ("tool", "assistant") for m in messages)
    if body.get("tools"):
        return {"content": None,
                "tool_calls": [tool_call("end_session" if later else "list_emails")]}
    name = "end_session" if later else "list_emails"
    return {"content": f"<tool_use:{name}>\n</tool_use:{name}>"}


def turn_script(turns: list[dict[str, Any]]) -> Script:
    """A script whose n-th assistant turn of the conversation is ``turns[n]`` (then a
    plain text answer)."""
    def script(body: dict[str, Any]) -> dict[str, Any]:
        n = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
        return turns[n] if n < len(turns) else {"content": "I have nothing more to do."}
    return script


def completion_body(reply: dict[str, Any], model: str, prompt_chars: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    if reply.get("tool_calls"):
        message["tool_calls"] = reply["tool_calls"]
    if reply.get("reasoning_content"):
        message["reasoning_content"] = reply["reasoning_content"]
    out = len(json.dumps(message)) // 4
    return {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": out,
                      "total_tokens": prompt_chars // 4 + out}}


class StubProvider:
    """The server. ``StubProvider(latency=0.5).start()`` runs it in a thread (``url`` is
    its ``/v1`` base, ``requests`` the JSON bodies received when ``record``); ``stop()``
    ends it. Use it as a context manager in tests. ``script`` (settable) answers every
    request the queue does not."""

    def __init__(self, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 record: bool = True, script: Script = default_reply):
        self.latency, self.host, self.port, self.record = latency, host, port, record
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def push(self, *replies: dict[str, Any]) -> None:
        """Queue replies: ``{"content": ..., "tool_calls": [...]}`` (a message, optionally
        with ``reasoning_content``), ``{"status": 429, "error": "..."}`` (an HTTP error;
        ``{key}`` in the message becomes the API key the request carried, as providers
        that echo it do), ``{"delay": 5}`` (answer that much later; with a message or
        alone for the script's reply). ``script`` may return the same shapes."""
        with self._lock:
            self._queue.extend(replies)

    # ------------------------------------------------------------------ handlers
    async def _chat(self, request: web.Request) -> web.Response:
        now = time.time()
        body = _loads(await request.read())
        with self._lock:
            self.count += 1
            if self.first is None:
                self.first = now
            if self.record:
                self.requests.append(body)
                self.headers.append(dict(request.headers))
                self.paths.append(request.path)
            reply = self._queue.popleft() if self._queue else {}
        if not {"content", "tool_calls", "status"} & reply.keys():
            reply = {**self.script(body), **reply}
        await asyncio.sleep(reply.get("delay", self.latency))
        status = int(reply.get("status", 200))
        if status != 200:
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            message = str(reply.get("error", f"stub error {status}")).replace("{key}", key)
            resp: web.Response = web.json_response(
                {"error": {"message": message, "type": "stub_error", "code": status}},
                status=status)
        else:
            prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
            resp = web.json_response(completion_body(reply, body.get("model", "stub"), prompt))
        self.last = time.time()
        return resp

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.count, "first": self.first,
                                  "last": self.last})

    async def _reset(self, request: web.Request) -> web.Response:
        self.count, self.first, self.last = 0, None, None
        self.requests.clear()
        self.headers.clear()
        self.paths.clear()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/reset", self._reset)
        return app

    async def serve(self) -> None:
        """Serve until ``stop()`` (in the running loop)."""
        self._stopped = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        await self._stopped.wait()
        await self._runner.cleanup()

    # ------------------------------------------------------------------ in a thread
    def start(self) -> "StubProvider":
        self._started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="stub-provider", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the stub provider did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> "StubProvider":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per answer")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    args = ap.parse_args(argv)
    server = StubProvider(latency=args.latency, port=args.port, record=False)
    server._started = threading.Event()

    async def run() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server._started.is_set():
            await asyncio.sleep(0.01)
        print(server.url, flush=True)
        await task

    # alone (as benchmarks run it) the server shares the machine with the harness it
    # serves: rare young collections keep its CPU per request low (hundreds of parsed
    # request bodies are alive at once; at the default threshold collections walk them)
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
