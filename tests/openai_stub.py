"""Pieces of a tiny OpenAI-compatible server for tests (http.server on 127.0.0.1)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def read_request(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    """The JSON body of a POST /v1/chat/completions."""
    return json.loads(handler.rfile.read(int(handler.headers["Content-Length"])))


def send_completion(handler: BaseHTTPRequestHandler, model: str, content: str | None,
                    tool_calls: list[dict[str, Any]] | None = None) -> None:
    """Answer with one chat completion (text, or tool calls)."""
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    out = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": model,
                      "choices": [{"index": 0, "message": msg,
                                   "finish_reason": "tool_calls" if tool_calls else "stop"}],
                      "usage": {"prompt_tokens": 10, "completion_tokens": 5,
                                "total_tokens": 15}}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(out)))
    handler.end_headers()
    handler.wfile.write(out)
