"""The direct transport: chat completions straight to an OpenAI-compatible endpoint.

litellm stays the interface (model strings, providers, keys, its cost map), but for a
local vLLM, SGLang or Ollama server each litellm call spends milliseconds of CPU on
logging, callbacks, cost lookups and response objects; a sweep with hundreds of calls
per second pays for that instead of the model. For ``openai/...`` and
``hosted_vllm/...`` models this module posts the same request itself, over one
aiohttp connection pool per endpoint and event loop, and returns the parsed JSON.

* :func:`route` decides: ``transport="auto"`` goes direct when the model is
  ``openai/...`` or ``hosted_vllm/...`` with an ``api_base`` and every other setting is
  a plain OpenAI request parameter; ``"direct"`` forces it (``openai/`` defaults to the
  OpenAI API); ``"litellm"`` never.
* HTTP errors become exceptions named and classed like litellm's (``RateLimitError``
  for 429, ``AuthenticationError`` for 401, ``InternalServerError`` for 500...,
  ``Timeout``, ``APIConnectionError``), each with its ``status_code``, so
  :func:`corpsim.retry.is_retryable` and :class:`~corpsim.agents.llm.LLMCallError` treat
  both transports alike.
* The key (``OPENAI_API_KEY``, or ``HOSTED_VLLM_API_KEY`` when set) is read from the
  environment for each request and sent only as the ``Authorization`` header.
* :func:`price` and :func:`supports_function_calling` read litellm's bundled cost map
  (the JSON file litellm itself loads, without importing litellm), once per process.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

try:  # several times faster than json for the request body (the prompt and tool schemas)
    import orjson

    _dumps: Callable[[Any], bytes] = orjson.dumps
    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson comes with litellm
    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    _loads = json.loads

TRANSPORTS = ("auto", "litellm", "direct")
# provider prefix -> the environment variable holding its key (None: no key needed)
KEYS = {"openai": "OPENAI_API_KEY", "hosted_vllm": "HOSTED_VLLM_API_KEY"}
REQUIRED_KEYS = {"openai": ["OPENAI_API_KEY"], "hosted_vllm": []}  # as litellm checks them
DEFAULT_BASE = {"openai": "https://api.openai.com/v1"}
# settings sent as they are in the request body (the OpenAI chat completions API)
BODY_PARAMS = frozenset({
    "top_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "user", "response_format", "tool_choice",
    "parallel_tool_calls", "reasoning_effort", "max_completion_tokens", "service_tier",
    "metadata", "store"})
PLUMBING = frozenset({"api_base", "base_url", "extra_headers", "headers", "extra_body"})


# ---------------------------------------------------------------------- errors
class ProviderError(Exception):
    """An error from the endpoint; ``status_code`` is the HTTP status (None: no reply)."""

    status_code: Optional[int] = None

    def __init__(self, message: str, status_code: Optional[int] = None):
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class BadRequestError(ProviderError):
    status_code = 400


class AuthenticationError(ProviderError):
    status_code = 401


class PermissionDeniedError(ProviderError):
    status_code = 403


class NotFoundError(ProviderError):
    status_code = 404


class UnprocessableEntityError(ProviderError):
    status_code = 422


class RateLimitError(ProviderError):
    status_code = 429


class InternalServerError(ProviderError):
    status_code = 500


class BadGatewayError(ProviderError):
    status_code = 502


class ServiceUnavailableError(ProviderError):
    status_code = 503


class Timeout(ProviderError):
    status_code = 408


class APIConnectionError(ProviderError):
    pass


_BY_STATUS = {c.status_code: c for c in (
    BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError,
    UnprocessableEntityError, RateLimitError, InternalServerError, BadGatewayError,
    ServiceUnavailableError, Timeout)}


def http_error(status: int, text: str) -> ProviderError:
    """The exception for an HTTP error reply (the server's own message where it gave one)."""
    message = text.strip()[:1000]
    try:
        err = json.loads(text).get("error")
        message = str(err.get("message") if isinstance(err, dict) else err) or message
    except (ValueError, AttributeError):
        pass
    kind = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else ProviderError)
    return kind(f"HTTP {status}: {message}", status)


# ---------------------------------------------------------------------- routing
@dataclass
class Route:
    """Where and how one model's requests go on the direct transport."""

    provider: str
    model: str  # the name the endpoint knows (the model string without its provider)
    url: str  # .../chat/completions
    key_env: Optional[str]
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)  # extra request parameters

    def request_headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        key = os.environ.get(self.key_env) if self.key_env else None
        if key:
            h["Authorization"] = f"Bearer {key}"
        h.update(self.headers)
        return h


def route(model: str, extra: dict[str, Any], transport: str = "auto") -> Optional[Route]:
    """The direct route for ``model`` with the agent's extra settings, or None when the
    call goes through litellm. ValueError when ``transport="direct"`` cannot apply."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
    if transport == "litellm":
        return None
    provider, _, name = model.partition("/")
    base = extra.get("api_base") or extra.get("base_url")
    if transport == "auto":
        if provider not in KEYS or not name or not base:
            return None
        if any(k not in BODY_PARAMS and k not in PLUMBING for k in extra):
            return None  # a litellm feature (mocking, thinking...): litellm handles it
    else:
        base = base or DEFAULT_BASE.get(provider)
        if provider not in KEYS or not name or not base:
            raise ValueError(f"transport 'direct' needs an OpenAI-compatible model "
                             f"({', '.join(p + '/...' for p in KEYS)}) and an api_base "
                             f"for hosted_vllm; got {model!r}")
    headers = {**(extra.get("headers") or {}), **(extra.get("extra_headers") or {})}
    body = {k: v for k, v in extra.items() if k not in PLUMBING}
    body.update(extra.get("extra_body") or {})
    return Route(provider, name, str(base).rstrip("/") + "/chat/completions",
                 KEYS[provider], {str(k): str(v) for k, v in headers.items()}, body)


# ---------------------------------------------------------------------- requests
def _parse(raw: bytes) -> dict[str, Any]:
    try:
        data = _loads(raw)
    except ValueError:
        raise ProviderError(f"the endpoint's answer is not JSON: {raw[:200]!r}") from None
    if not isinstance(data, dict) or not data.get("choices"):
        raise ProviderError(f"the endpoint's answer has no choices: {raw[:200]!r}")
    return data


_SESSIONS: dict[tuple[int, str], Any] = {}


def _session(loop: asyncio.AbstractEventLoop, url: str) -> Any:
    """One connection pool per event loop and endpoint (host and port)."""
    import aiohttp

    origin = url.split("/", 3)[:3]
    key = (id(loop), "/".join(origin))
    s = _SESSIONS.get(key)
    if s is None or s.closed:
        s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                                  skip_auto_headers=("User-Agent",))
        _SESSIONS[key] = s
    return s


async def achat(r: Route, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST one chat completion and return the parsed JSON; raises the classes above."""
    import aiohttp

    session = _session(asyncio.get_running_loop(), r.url)
    try:
        async with session.post(r.url, data=_dumps(body), headers=r.request_headers(),
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            raw = await resp.read()
            status = resp.status
    except asyncio.TimeoutError:
        raise Timeout(f"no answer from {r.url} within {timeout} s") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"{r.url}: {type(exc).__name__}: {exc}") from None
    if status != 200:
        raise http_error(status, raw.decode(errors="replace"))
    return _parse(raw)


def chat(r: Route, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    """:func:`achat` for synchronous callers (notebooks), with the standard library."""
    req = urllib.request.Request(r.url, data=_dumps(body),
                                 headers=r.request_headers(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return _parse(resp.read())
    except urllib.error.HTTPError as exc:
        raise http_error(exc.code, exc.read().decode(errors="replace")) from None
    except (TimeoutError, socket.timeout):
        raise Timeout(f"no answer from {r.url} within {timeout} s") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise Timeout(f"no answer from {r.url} within {timeout} s") from None
        raise APIConnectionError(f"{r.url}: {exc.reason}") from None
    except (ConnectionError, OSError) as exc:
        raise APIConnectionError(f"{r.url}: {type(exc).__name__}: {exc}") from None


async def aclose() -> None:
    """Close this event loop's connection pools (a sweep does it when it ends)."""
    loop = id(asyncio.get_running_loop())
    for key in [k for k in _SESSIONS if k[0] == loop]:
        await _SESSIONS.pop(key).close()


# ---------------------------------------------------------------------- litellm's cost map
@functools.lru_cache(maxsize=1)
def _cost_map() -> dict[str, Any]:
    """litellm's bundled model map (prices, capabilities), read once without importing
    litellm; empty if litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "model_prices_and_context_window_backup.json")
        if os.path.exists(path):
            with open(path, "rb") as f:  # ~3.5 MB, read at the first answer
                return _loads(f.read())
    return {}


@functools.lru_cache(maxsize=256)
def _entry(model: str) -> Optional[dict[str, Any]]:
    m = _cost_map()
    provider, _, name = model.partition("/")
    for key in (model, name):
        e = m.get(key)
        if isinstance(e, dict) and (key == model or e.get("litellm_provider") == provider):
            return e
    return None


def price(model: str, prompt_tokens: int, completion_tokens: int) -> Optional[float]:
    """USD for a call by the cost map, None for a model it does not price."""
    e = _entry(model)
    if not e or "input_cost_per_token" not in e:
        return None
    return (prompt_tokens * float(e.get("input_cost_per_token") or 0)
            + completion_tokens * float(e.get("output_cost_per_token") or 0))


def supports_function_calling(model: str) -> bool:
    """The cost map's word on native function calling (False for a model it lacks)."""
    e = _entry(model)
    return bool(e and e.get("supports_function_calling"))


__all__ = ["APIConnectionError", "AuthenticationError", "BadRequestError", "ProviderError",
           "RateLimitError", "InternalServerError", "Route", "Timeout", "TRANSPORTS",
           "achat", "aclose", "chat", "price", "route",
           "supports_function_calling"]
