"""A tiny OpenAI-compatible HTTP server on 127.0.0.1 for tests of model-facing paths
(the LLM monitor, the outcome judge, LLM agents) through litellm's real HTTP client.

    with OpenAIServer() as srv:
        srv.replies.append(Reply(content="BLOCK"))      # next /v1/chat/completions
        litellm.completion(model="openai/x", api_base=srv.url, api_key="k", ...)
        srv.requests[-1]                                # the JSON body received

Each request takes the next queued :class:`Reply` (the last one repeats): a chat
completion with ``content``, or an error ``status`` with ``body``, after ``delay`` s.
``{key}`` in an error body's message becomes the API key the request carried (a provider
that echoes the key, as some do in their 401 answers).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


@dataclass
class Reply:
    content: str = "ALLOW"
    status: int = 200
    body: Optional[dict[str, Any]] = None  # an error body (status != 200)
    delay: float = 0.0


class OpenAIServer:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer._lock:
                    outer.requests.append(body)
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = (outer.replies.pop(0) if len(outer.replies) > 1
                             else (outer.replies[0] if outer.replies else Reply()))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    payload = json.loads(json.dumps(reply.body or {"error": {
                        "message": "server error", "type": "server_error"}})
                        .replace("{key}", key))
                else:
                    payload = {
                        "id": "chatcmpl-test", "object": "chat.completion",
                        "created": 0, "model": body.get("model", "x"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant",
                                                 "content": reply.content}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 1,
                                  "total_tokens": 11}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "OpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
