"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: ``/v1/chat/completions``
answers from a script (a function of the request body), so model-facing paths go over
HTTP exactly as with a provider, offline."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Script = Callable[[dict[str, Any]], dict[str, Any]]  # request -> assistant message


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": f"call_{name}_{time.monotonic_ns()}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def turn_script(turns: list[dict[str, Any]]) -> Script:
    """The n-th assistant turn of the conversation gets ``turns[n]`` (then plain text)."""
    def script(request: dict[str, Any]) -> dict[str, Any]:
        n = sum(1 for m in request.get("messages", []) if m.get("role") == "assistant")
        if n < len(turns):
            return {"role": "assistant", "content": None, **turns[n]}
        return {"role": "assistant", "content": "I have nothing more to do."}
    return script


class FakeOpenAI:
    """``with FakeOpenAI(script) as srv: srv.base_url`` (ends in /v1); ``srv.requests``
    holds every request body received."""

    def __init__(self, script: Script):
        self.script = script
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self.send_error(404)
                    return
                msg = outer.script(body)
                reply = json.dumps({
                    "id": f"chatcmpl-{len(outer.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "message": msg,
                                 "finish_reason": "tool_calls" if msg.get("tool_calls") else "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
