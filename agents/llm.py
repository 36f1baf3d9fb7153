"""LLM agents through litellm: any provider, native tool calls or the study's markup.

* :class:`LLMAgent` drives the interactive env: the system prompt and tool schemas come
  from the env's reset ``info``; the history is OpenAI-style chat messages (the
  observation as the user turn, the assistant's tool calls, each result as a ``tool``
  message with its ``tool_call_id``). Where ``litellm.supports_function_calling(model)``
  (or ``native_tools=True``) the model calls tools natively; otherwise it writes the
  study's ``<tool_use:...>`` markup, taught by instructions appended to the system
  prompt, and the raw reply text is the action.
* :class:`SingleTurnLLMAgent` reproduces the study's protocol on a ``single_turn`` env:
  one completion, the answer text is the single action.

One env step per tool call: when a model makes several tool calls in one turn, ``act``
returns them one at a time on consecutive calls (each gets its own step and
observation) and all their results go back before the next completion. Each action is
a dict with a ``"reasoning"`` key: the provider's separate reasoning output
(``reasoning_content`` / thinking blocks) followed by the reply text. ``last_usage``
holds the tokens, cost (litellm's local cost map, never fetched), latency and attempts
of the completion made for the latest step (empty for a step served from an earlier
turn's parallel calls), and ``info`` keeps the running totals.

Requests go through litellm, or straight to the endpoint for ``openai/...`` and
``hosted_vllm/...`` models with an ``api_base`` (:mod:`corpsim.agents.http_client`;
``transport`` chooses): same request, same errors, a fraction of litellm's CPU per call.

Rate limits, timeouts, connection and server errors are retried with exponential
backoff and jitter (:mod:`corpsim.retry`), up to ``retries`` times; a call that still fails (or fails for a
reason retrying cannot fix, such as a bad key) raises :class:`LLMCallError`, which
:func:`corpsim.runner.run_episode` records as ``status="errored"`` with the reason.

litellm is imported on the first completion (it takes seconds), never by
``import corpsim`` or ``import corpsim.agents``. API keys come only from the
environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``...): the settings refuse them as
arguments and nothing here logs or stores them.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import time
from dataclasses import dataclass, field, fields
from typing import Any

from corpsim.retry import Backoff, GaveUp, aretry, retry
from corpsim.secrets import HIDDEN, scrub_text

from . import http_client
from .markup import has_tool_block, markup_instructions, text_action

# litellm reads this when it is imported: use the cost map bundled with the installed
# version instead of fetching one over the network
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

NATIVE_CHOICES = ("auto", "on", "off")
_SECRET_NAME = re.compile(r"(api_key|secret|password|credential|access_key|_token)$|^token$",
                          re.IGNORECASE)


def _litellm() -> Any:
    """Import litellm on first use (and quiet its stdout banners)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LLMCallError(RuntimeError):
    """A completion failed for good: retries exhausted, or an error retrying cannot fix.

    Attributes: ``model``, ``attempts``, ``cause`` (the last exception), ``retryable``.
    """

    def __init__(self, model: str, attempts: int, cause: BaseException, retryable: bool):
        self.model, self.attempts, self.cause, self.retryable = model, attempts, cause, retryable
        what = (f"gave up after {attempts} attempts" if retryable
                else f"failed (not retryable, attempt {attempts})")
        super().__init__(f"{model}: completion {what}: {type(cause).__name__}: "
                         f"{scrub_text(str(cause))}")


def _native_flag(value: Any) -> str:
    if value is True:
        return "on"
    if value is False:
        return "off"
    if value is None:
        return "auto"
    v = str(value).lower()
    aliases = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
    v = aliases.get(v, v)
    if v not in NATIVE_CHOICES:
        raise ValueError(f"native_tools must be one of {', '.join(NATIVE_CHOICES)} "
                         f"(or True/False), not {value!r}")
    return v


@dataclass
class LLMSettings:
    """How an LLM agent calls its model.

    Args:
        model: a litellm model string, ``provider/model`` (``openai/gpt-4o``,
            ``anthropic/claude-sonnet-4-20250514``, ``ollama/llama3.1``,
            ``hosted_vllm/my-model``...).
        temperature: sampling temperature (None: the provider's default).
        max_tokens: completion token limit per call (None: the provider's default).
        retries: how many times a failed call is retried (rate limit, timeout,
            connection or server error) before the episode errors.
        timeout: seconds one call may take.
        backoff: base delay in seconds; retry ``n`` waits about ``backoff * 2**n``
            (with jitter, capped at ``backoff_max``).
        backoff_max: the longest wait between two attempts.
        native_tools: ``"auto"`` (native function calling where litellm says the model
            supports it, markup otherwise), ``"on"`` / True, ``"off"`` / False.
        max_idle_turns: after this many consecutive replies without a tool call the
            agent ends the session for the model (0 or None: never).
        transport: ``"auto"`` (straight to the endpoint for ``openai/...`` and
            ``hosted_vllm/...`` models with an ``api_base`` and only plain OpenAI request
            settings, litellm otherwise), ``"direct"`` or ``"litellm"``.
        extra: more litellm keyword arguments, e.g. ``api_base`` for a local vLLM or
            Ollama server, ``reasoning_effort``, ``thinking``, or litellm's mocking
            (``mock_response``, ``mock_tool_calls``, ``mock_delay``) in tests. API keys
            are refused here: put them in the environment.
    """

    model: str
    temperature: float | None = 1.0
    max_tokens: int | None = 4096
    retries: int = 4
    timeout: float = 120.0
    backoff: float = 1.0
    backoff_max: float = 60.0
    native_tools: Any = "auto"
    max_idle_turns: int | None = 3
    transport: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("model must be a litellm model string such as 'openai/gpt-4o'")
        self.native_tools = _native_flag(self.native_tools)
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, not {self.retries}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, not {self.timeout}")
        if self.backoff < 0 or self.backoff_max < 0:
            raise ValueError("backoff and backoff_max must be >= 0")
        self.extra = dict(self.extra or {})
        if self.transport not in http_client.TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(http_client.TRANSPORTS)}, "
                             f"not {self.transport!r}")
        secrets = sorted(k for k in self.extra if _SECRET_NAME.search(k))
        if secrets:
            raise ValueError(f"{', '.join(secrets)}: API keys and other credentials are read "
                             "from the environment only (e.g. OPENAI_API_KEY, "
                             "ANTHROPIC_API_KEY); do not pass them as arguments")

    def public(self) -> dict[str, Any]:
        """The settings as a JSON-friendly dict, safe to store with results (headers and
        non-JSON values hidden)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        extra: dict[str, Any] = {}
        for k, v in self.extra.items():
            if "header" in k.lower():
                extra[k] = HIDDEN
                continue
            try:
                extra[k] = json.loads(json.dumps(v))
            except (TypeError, ValueError):
                extra[k] = f"<{type(v).__name__}>"
        d["extra"] = extra
        return d

    def __repr__(self) -> str:  # never show header values
        return f"LLMSettings({', '.join(f'{k}={v!r}' for k, v in self.public().items())})"


@functools.lru_cache(maxsize=256)
def supports_native_tools(model: str) -> bool:
    """litellm's view of whether ``model`` does native function calling (False for a
    model its bundled cost map does not know)."""
    if model.partition("/")[0] in http_client.KEYS:  # the same map, without litellm
        return http_client.supports_function_calling(model)
    try:
        return bool(_litellm().supports_function_calling(model))
    except Exception:
        return False


def missing_environment(model: str, api_base: str | None = None) -> list[str]:
    """Environment variables litellm needs for ``model`` that are not set (no network)."""
    try:
        env = _litellm().validate_environment(model, api_base=api_base)
    except Exception:  # an unknown provider is reported when the call is made
        return []
    return list(env.get("missing_keys") or [])


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _reasoning_output(message: Any) -> str | None:
    """The provider's separate reasoning (litellm's ``reasoning_content``, else the text
    of its thinking blocks)."""
    rc = _get(message, "reasoning_content")
    if isinstance(rc, str) and rc.strip():
        return rc.strip()
    blocks = _get(message, "thinking_blocks") or []
    texts = [b.get("thinking", "") for b in blocks if isinstance(b, dict)]
    joined = "\n\n".join(t.strip() for t in texts if t and t.strip())
    return joined or None


def _join(*parts: str | None) -> str | None:
    out = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return out or None


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


class _LLMBase:
    """Completion with retries, usage accounting and the agent's ``info`` totals."""

    kind = "llm"

    def __init__(self, settings: LLMSettings | str | None = None, **kwargs: Any):
        if isinstance(settings, str):
            kwargs["model"] = settings
            settings = None
        if settings is None:
            known = set(LLMSettings.__dataclass_fields__)
            extra = dict(kwargs.pop("extra", None) or {})
            extra.update({k: kwargs.pop(k) for k in list(kwargs) if k not in known})
            settings = LLMSettings(**kwargs, extra=extra)
        elif kwargs:
            raise TypeError("pass either an LLMSettings or keyword settings, not both")
        self.settings = settings
        self.model = settings.model
        self.name = f"{self.kind}:{settings.model}"
        self.last_usage: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        self._backoff = Backoff(settings.backoff, settings.backoff_max, jitter=True,
                                rng=random.Random())
        self._route = http_client.route(settings.model, settings.extra, settings.transport)

    # ------------------------------------------------------------------ accounting
    def _reset_info(self, native: bool) -> None:
        self.last_usage = {}
        self.info = {"model": self.model, "kind": self.kind, "native_tools": native,
                     "settings": self.settings.public(), "calls": 0, "retries": 0,
                     "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0,
                     "cost_usd": 0.0, "cost_known": True, "latency_s": 0.0,
                     "tool_calls": 0, "idle_turns": 0, "stopped": None, "error": None}

    def _usage(self, response: Any, latency: float, attempts: int) -> dict[str, Any]:
        u = _get(response, "usage")
        details = _get(u, "completion_tokens_details") if u is not None else None
        usage: dict[str, Any] = {
            "model": _get(response, "model") or self.model,
            "prompt_tokens": _int(_get(u, "prompt_tokens")),
            "completion_tokens": _int(_get(u, "completion_tokens")),
            "reasoning_tokens": _int(_get(details, "reasoning_tokens")) if details else 0,
            "cost_usd": self._cost(response),
            "latency_s": round(latency, 6),
            "attempts": attempts,
        }
        i = self.info
        i["calls"] += 1
        i["retries"] += attempts - 1
        for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
            i[k] += usage[k]
        if usage["cost_usd"] is None:
            i["cost_known"] = False
        else:
            i["cost_usd"] += usage["cost_usd"]
        i["latency_s"] = round(i["latency_s"] + latency, 6)
        return usage

    def _cost(self, response: Any) -> float | None:
        if self._route is not None:
            u = response.get("usage") or {}
            return http_client.price(self.model, _int(u.get("prompt_tokens")),
                                     _int(u.get("completion_tokens")))
        hidden = getattr(response, "_hidden_params", None) or {}
        known = hidden.get("response_cost")  # litellm priced it already (same local map)
        if isinstance(known, (int, float)) and not isinstance(known, bool):
            return float(known)
        litellm = _litellm()
        for kw in ({}, {"model": self.model}):
            try:
                return float(litellm.completion_cost(completion_response=response, **kw))
            except Exception:
                continue
        return None  # a model litellm's local cost map does not price

    # ------------------------------------------------------------------ completion
    def _request(self, tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        s = self.settings
        kw: dict[str, Any] = {"model": s.model, "messages": list(self.messages),
                              "timeout": s.timeout, "num_retries": 0, "drop_params": True}
        if s.temperature is not None:
            kw["temperature"] = s.temperature
        if s.max_tokens is not None:
            kw["max_tokens"] = s.max_tokens
        if tools:
            kw["tools"] = tools
        kw.update(s.extra)
        return kw

    def _body(self, kw: dict[str, Any]) -> dict[str, Any]:
        """The request body of the direct transport."""
        assert self._route is not None
        body = {**self._route.body, "model": self._route.model, "messages": kw["messages"]}
        for k in ("temperature", "max_tokens", "tools"):
            if k in kw:
                body[k] = kw[k]
        return body

    def _gave_up(self, exc: GaveUp) -> LLMCallError:
        err = LLMCallError(self.model, exc.attempts, exc.cause, exc.retryable)
        self.info["error"] = str(err)
        return err

    def _complete(self, tools: list[dict[str, Any]] | None = None) -> tuple[Any, dict[str, Any]]:
        kw = self._request(tools)
        if self._route is not None:
            r, body, timeout = self._route, self._body(kw), self.settings.timeout
            call: Any = lambda: http_client.chat(r, body, timeout)  # noqa: E731
        else:
            completion = _litellm().completion
            call = lambda: completion(**kw)  # noqa: E731
        try:
            response, attempts = retry(self._timed(call), self.settings.retries, self._backoff)
        except GaveUp as exc:
            raise self._gave_up(exc) from exc.cause
        return response, self._usage(response, time.perf_counter() - self._t0, attempts)

    async def _acomplete(self, tools: list[dict[str, Any]] | None = None
                         ) -> tuple[Any, dict[str, Any]]:
        kw = self._request(tools)
        if self._route is not None:
            r, body, timeout = self._route, self._body(kw), self.settings.timeout
            call: Any = lambda: http_client.achat(r, body, timeout)  # noqa: E731
        else:
            acompletion = _litellm().acompletion
            call = lambda: acompletion(**kw)  # noqa: E731
        try:
            response, attempts = await aretry(self._timed(call), self.settings.retries,
                                              self._backoff)
        except GaveUp as exc:
            raise self._gave_up(exc) from exc.cause
        return response, self._usage(response, time.perf_counter() - self._t0, attempts)

    def _timed(self, call: Any) -> Any:
        """``call`` noting when each attempt starts (latency is the successful one's)."""
        def attempt() -> Any:
            self._t0 = time.perf_counter()
            return call()
        return attempt


class LLMAgent(_LLMBase):
    """A tool-calling agent for the interactive env; see the module docstring.

    ``LLMAgent("openai/gpt-4o", temperature=0.7, api_base=...)`` or
    ``LLMAgent(LLMSettings(...))``. Sync ``act`` for notebooks, ``aact`` for asyncio
    (:func:`corpsim.runner.arun_episode`). After an episode, ``messages`` holds the
    whole conversation.
    """

    kind = "llm"

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        mode = self.settings.native_tools
        self.native = mode == "on" or (mode == "auto" and supports_native_tools(self.model))
        self.tools: list[dict[str, Any]] = list(info.get("tools") or [])
        system = info.get("system_prompt") or ""
        if not self.native:
            scratchpad = "SCRATCHPAD_REASONING" in system
            system = system.rstrip() + "\n\n" + markup_instructions(self.tools, scratchpad)
        self.messages = [{"role": "system", "content": system},
                         {"role": "user", "content": observation}]
        self._queue: list[dict[str, Any]] = []
        self._awaiting: str | None = None  # tool_call_id the next observation answers
        self._first = True  # the first observation is already the user turn
        self._idle = 0
        self._calls_made = 0
        self._reset_info(self.native)

    # ------------------------------------------------------------------ the loop
    def act(self, observation: str, info: dict[str, Any]) -> Any:
        self._observe(observation)
        if self._queue:
            return self._next_queued()
        if self._give_up():
            return self._end_for_model()
        response, usage = self._complete(self.tools if self.native else None)
        return self._take(response, usage)

    async def aact(self, observation: str, info: dict[str, Any]) -> Any:
        self._observe(observation)
        if self._queue:
            return self._next_queued()
        if self._give_up():
            return self._end_for_model()
        response, usage = await self._acomplete(self.tools if self.native else None)
        return self._take(response, usage)

    def replay(self, prefix: list[tuple[str, Any, dict[str, Any]]]) -> None:
        """Rebuild the conversation of a stored episode's first steps (after ``reset``,
        without calling the model), for a continuation (:mod:`corpsim.branching`).

        ``prefix``: per step, the observation seen before it, the stored action and the
        step's usage record (non-empty where a completion was made). Each completion is
        rebuilt from the actions it produced (tool calls with their ids and raw
        arguments, its text as the reply content) and fed through the same code as a
        live reply, so the messages, call ids and idle count are those of the source
        run. A provider's separate reasoning output comes back inside the reply text
        (the stored step joins them). Raises ``ValueError`` where the stored actions
        could not have come from this agent (another kind of agent, other settings)."""
        i, n = 0, len(prefix)
        while i < n:
            obs, action, usage = prefix[i]
            self._observe(obs)
            if self._queue:
                got: Any = self._next_queued()
            else:
                if isinstance(action, dict) and action.get("id") and self.native:
                    j = i + 1
                    while (j < n and isinstance(prefix[j][1], dict) and prefix[j][1].get("id")
                           and not prefix[j][2]):
                        j += 1
                    calls = [{"id": a["id"], "type": "function",
                              "function": {"name": a.get("tool"), "arguments": a.get("arguments")}}
                             for a in (prefix[x][1] for x in range(i, j))]
                    message: dict[str, Any] = {"content": action.get("reasoning"),
                                               "tool_calls": calls}
                elif isinstance(action, str):
                    message = {"content": action}
                else:
                    raise ValueError(f"step {i + 1}: a stored action {action!r:.80} this "
                                     "agent could not have produced; cannot rebuild its "
                                     "conversation")
                got = self._take({"choices": [{"message": message}]}, dict(usage))
            if json.dumps(got, sort_keys=True, default=str) != json.dumps(
                    action, sort_keys=True, default=str):
                raise ValueError(f"step {i + 1}: the rebuilt reply gives {got!r:.80}, the "
                                 f"stored action is {action!r:.80}")
            i += 1
        self.last_usage = {}

    # ------------------------------------------------------------------ helpers
    def _observe(self, observation: str) -> None:
        if not hasattr(self, "_queue"):
            raise RuntimeError("call reset(observation, info) before act()")
        if self._first:
            self._first = False
            return
        if self._awaiting is not None:
            self.messages.append({"role": "tool", "tool_call_id": self._awaiting,
                                  "content": observation})
            self._awaiting = None
        else:
            self.messages.append({"role": "user", "content": observation})

    def _next_queued(self) -> dict[str, Any]:
        action = self._queue.pop(0)
        self._awaiting = action["id"]
        self.last_usage = {}  # served from an earlier completion: no new tokens
        return action

    def _give_up(self) -> bool:
        n = self.settings.max_idle_turns
        return bool(n) and self._idle >= n

    def _end_for_model(self) -> dict[str, Any]:
        self.last_usage = {}
        self.info["stopped"] = "no_tool_calls"
        return {"tool": "end_session", "arguments": {},
                "reasoning": f"[corpsim] the model made no tool call in {self._idle} "
                             "consecutive replies; the agent ended the session for it"}

    def _take(self, response: Any, usage: dict[str, Any]) -> Any:
        self.last_usage = usage
        message = _get(_get(response, "choices")[0], "message")
        content = _content_text(_get(message, "content"))
        thought = _reasoning_output(message)
        tool_calls = list(_get(message, "tool_calls") or []) if self.native else []
        assistant: dict[str, Any] = {"role": "assistant", "content": content or None}
        blocks = _get(message, "thinking_blocks")
        if blocks:  # providers that need them back (Anthropic extended thinking + tools)
            assistant["thinking_blocks"] = list(blocks)
        if not tool_calls:
            self.messages.append(assistant if content or blocks else
                                 {"role": "assistant", "content": ""})
            made_call = has_tool_block(content)
            self._idle = 0 if made_call else self._idle + 1
            if not made_call:
                self.info["idle_turns"] += 1
            return text_action(content, thought)
        self._idle = 0
        reasoning = _join(thought, content)
        calls = []
        for i, tc in enumerate(tool_calls):
            fn = _get(tc, "function")
            self._calls_made += 1
            call_id = _get(tc, "id") or f"call_{self._calls_made}"
            name = _get(fn, "name") or ""
            args = _get(fn, "arguments")
            if args is None:
                args = "{}"
            call: dict[str, Any] = {"id": call_id, "type": "function",
                                    "function": {"name": name, "arguments": args if isinstance(
                                        args, str) else json.dumps(args)}}
            for holder, src in ((call, tc), (call["function"], fn)):
                extra = _get(src, "provider_specific_fields")  # e.g. Gemini thought signatures
                if extra:
                    holder["provider_specific_fields"] = dict(extra)
            calls.append(call)
            # the env parses the raw arguments: invalid JSON gets its error observation.
            # The turn's reasoning goes with its first call only, so it is kept once.
            self._queue.append({"tool": name, "arguments": args, "id": call_id,
                                "reasoning": reasoning if i == 0 else None})
        assistant["tool_calls"] = calls
        self.messages.append(assistant)
        self.info["tool_calls"] += len(calls)
        action = self._queue.pop(0)
        self._awaiting = action["id"]
        return action


class SingleTurnLLMAgent(_LLMBase):
    """The study's protocol: on a ``single_turn`` env, one completion whose answer (the
    study's markup text) is the single action."""

    kind = "llm-single-turn"

    def reset(self, observation: str, info: dict[str, Any]) -> None:
        if info.get("mode") != "single_turn":
            raise ValueError("SingleTurnLLMAgent needs an env made with mode='single_turn' "
                             f"(this one is {info.get('mode')!r}); use LLMAgent for the "
                             "interactive env")
        self.messages = [{"role": "system", "content": info.get("system_prompt") or ""},
                         {"role": "user", "content": observation}]
        self._done = False
        self._reset_info(False)

    def _answer(self, response: Any, usage: dict[str, Any]) -> str:
        self.last_usage = usage
        message = _get(_get(response, "choices")[0], "message")
        content = _content_text(_get(message, "content"))
        self.messages.append({"role": "assistant", "content": content})
        return text_action(content, _reasoning_output(message))

    def _check(self) -> None:
        if not hasattr(self, "_done"):
            raise RuntimeError("call reset(observation, info) before act()")
        if self._done:
            raise RuntimeError("the single-turn agent answers once per episode")
        self._done = True

    def act(self, observation: str, info: dict[str, Any]) -> str:
        self._check()
        return self._answer(*self._complete())

    async def aact(self, observation: str, info: dict[str, Any]) -> str:
        self._check()
        return self._answer(*await self._acomplete())


def make_llm_agent(model: str, mode: str = "interactive", **settings: Any) -> Any:
    """An LLM agent for ``model``: :class:`LLMAgent` for the interactive env,
    :class:`SingleTurnLLMAgent` for ``mode="single_turn"``. Keyword arguments are
    :class:`LLMSettings` fields (None means the default); any others (``api_base``...)
    go to litellm."""
    settings = {k: v for k, v in settings.items() if v is not None}
    if mode == "single_turn":
        return SingleTurnLLMAgent(model=model, **settings)
    if mode != "interactive":
        raise ValueError(f"mode must be 'interactive' or 'single_turn', not {mode!r}")
    return LLMAgent(model=model, **settings)


def direct_keys(model: str, **settings: Any) -> list[str] | None:
    """The environment variables an agent made with these settings needs when it takes
    the direct transport (as ``litellm.validate_environment`` would list them), or None
    when it calls litellm."""
    try:
        route = make_llm_agent(model, **settings)._route
    except Exception:  # invalid settings are reported where the agent is made
        return None
    return None if route is None else list(http_client.REQUIRED_KEYS[route.provider])


def uses_litellm(model: str, **settings: Any) -> bool:
    """Whether an agent made with these settings calls litellm (so must import it)."""
    return direct_keys(model, **settings) is None


__all__ = ["LLMAgent", "LLMCallError", "LLMSettings", "SingleTurnLLMAgent", "make_llm_agent",
           "direct_keys", "missing_environment", "supports_native_tools", "uses_litellm"]
