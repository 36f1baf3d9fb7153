"""The direct transport and the shared retry mechanism, through a real HTTP server.

Every test talks to ``corpsim.stub_provider.StubProvider``, an aiohttp OpenAI-compatible
server the test starts on 127.0.0.1 (no network): tool calls, markup text, rate limits,
server errors, a bad key, timeouts, the sync and async paths, the same episode through
litellm, and a whole ``corpsim sweep`` that never imports litellm.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("aiohttp")

import corpsim  # noqa: E402
from corpsim.agents import http_client  # noqa: E402
from corpsim.agents.llm import LLMAgent, LLMCallError  # noqa: E402
from corpsim.retry import Backoff, GaveUp, is_retryable, retry  # noqa: E402
from corpsim.runner import arun_episode, run_episode  # noqa: E402
from corpsim.stub_provider import StubProvider, tool_call  # noqa: E402

BLACKMAIL = "blackmail_explicit-america_replacement"


@pytest.fixture()
def server():
    with StubProvider() as s:
        yield s


def agent(server: StubProvider, **kw) -> LLMAgent:
    settings = {"api_base": server.url, "native_tools": "on", "retries": 2, "backoff": 0.0,
                "timeout": 5.0, **kw}
    return LLMAgent("hosted_vllm/stub-model", **settings)


def _without_additional(obj):
    if isinstance(obj, dict):
        return {k: _without_additional(v) for k, v in obj.items() if k != "additionalProperties"}
    if isinstance(obj, list):
        return [_without_additional(v) for v in obj]
    return obj


def run_async(env, a, seed: int = 0):
    async def main():
        try:
            return await arun_episode(env, a, seed=seed)
        finally:
            await http_client.aclose()
    return asyncio.run(main())


def tools_called(ep) -> list[str]:
    return [c["tool"] for s in ep.steps for c in s.calls]


# --------------------------------------------------------------------------- success
def test_native_tool_calls_over_http(server, monkeypatch):
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "sk-test-secret-123")
    a = agent(server, temperature=0.3, max_tokens=200, top_p=0.9)
    assert a._route is not None  # api_base + plain OpenAI settings: the direct transport
    ep = run_async(corpsim.make(BLACKMAIL), a)
    assert ep.status == "ok", ep.error
    assert tools_called(ep) == ["list_emails", "end_session"]
    first, second = server.requests
    assert first["model"] == "stub-model" and first["temperature"] == 0.3
    assert first["max_tokens"] == 200 and first["top_p"] == 0.9
    assert {t["function"]["name"] for t in first["tools"]} >= {"send_email", "end_session"}
    assert server.headers[0]["Authorization"] == "Bearer sk-test-secret-123"
    # the tool result went back with its call id before the second completion
    tool_msg = second["messages"][-1]
    assert tool_msg["role"] == "tool"
    assert tool_msg["tool_call_id"] == second["messages"][-2]["tool_calls"][0]["id"]
    assert a.info["calls"] == 2 and a.info["prompt_tokens"] > 0
    assert a.info["cost_known"] is False  # the cost map does not price a local model
    assert "sk-test-secret" not in json.dumps(a.info)


def test_markup_text_over_http(server):
    a = agent(server, native_tools="off")
    ep = run_async(corpsim.make(BLACKMAIL), a)
    assert ep.status == "ok", ep.error
    assert "tools" not in server.requests[0]
    assert "<tool_use:" in server.requests[0]["messages"][0]["content"]  # taught in the prompt
    assert tools_called(ep) == ["list_emails", "end_session"]


def test_sync_act_uses_the_same_transport(server):
    server.push({"content": None, "tool_calls": [tool_call("read_email", "{not json")]})
    ep = run_episode(corpsim.make(BLACKMAIL), agent(server), seed=0)
    assert ep.status == "ok", ep.error
    assert "error" in ep.steps[0].observation.lower()  # bad arguments: the env says so
    assert tools_called(ep)[-1] == "end_session"


def test_direct_and_litellm_send_and_play_the_same_episode(server):
    pytest.importorskip("litellm")
    eps, bodies = [], []
    for transport in ("direct", "litellm"):
        server.requests.clear()
        eps.append(run_async(corpsim.make(BLACKMAIL), agent(server, transport=transport)))
        bodies.append(server.requests[:])
    direct, via_litellm = eps
    assert direct.status == via_litellm.status == "ok"
    assert [s.action for s in direct.steps] != [] and tools_called(direct) == tools_called(
        via_litellm)
    assert [s.observation for s in direct.steps] == [s.observation for s in via_litellm.steps]
    for d, v in zip(*bodies):
        # litellm drops "additionalProperties" from hosted_vllm tool schemas; the direct
        # path sends the env's schemas as they are
        assert d["messages"][0] == v["messages"][0]
        assert _without_additional(d["tools"]) == _without_additional(v["tools"])
        assert len(d["messages"]) == len(v["messages"])


# --------------------------------------------------------------------------- faults
def test_rate_limit_is_retried_then_the_episode_goes_on(server):
    server.push({"status": 429, "error": "slow down"})
    a = agent(server)
    ep = run_async(corpsim.make(BLACKMAIL), a)
    assert ep.status == "ok", ep.error
    assert ep.steps[0].usage["attempts"] == 2 and a.info["retries"] == 1
    assert len(server.requests) == 3


def test_persistent_server_error_errors_the_episode_with_the_reason(server):
    server.push(*[{"status": 500, "error": "overloaded"}] * 3)
    a = agent(server)
    ep = run_async(corpsim.make(BLACKMAIL), a)
    assert ep.status == "errored"
    assert "gave up after 3 attempts" in ep.error and "InternalServerError" in ep.error
    assert "overloaded" in ep.error and len(server.requests) == 3


def test_bad_key_is_not_retried_and_the_key_never_shows(server, monkeypatch):
    monkeypatch.setenv("HOSTED_VLLM_API_KEY", "sk-live-abcdef0123456789abcdef")
    server.push({"status": 401, "error": "invalid key sk-live-abcdef0123456789abcdef"})
    a = agent(server)
    obs, info = corpsim.make(BLACKMAIL).reset(seed=0)
    a.reset(obs, info)
    with pytest.raises(LLMCallError) as err:
        a.act(obs, info)
    assert err.value.attempts == 1 and not err.value.retryable
    assert type(err.value.cause).__name__ == "AuthenticationError"
    assert err.value.cause.status_code == 401
    assert "sk-live-abcdef" not in str(err.value) and len(server.requests) == 1


def test_timeout_is_retried_and_reported(server):
    server.push({"delay": 3})
    a = agent(server, timeout=0.3)
    ep = run_async(corpsim.make(BLACKMAIL), a)
    assert ep.status == "ok", ep.error
    assert ep.steps[0].usage["attempts"] == 2
    server.push(*[{"delay": 3}] * 2)
    a = agent(server, timeout=0.3, retries=1)
    obs, info = corpsim.make(BLACKMAIL).reset(seed=0)
    a.reset(obs, info)
    with pytest.raises(LLMCallError) as err:
        a.act(obs, info)  # the sync path times out the same way
    assert err.value.retryable and type(err.value.cause).__name__ == "Timeout"


def test_unreachable_server_is_a_connection_error():
    a = LLMAgent("hosted_vllm/x", api_base="http://127.0.0.1:9/v1", retries=0,
                 native_tools="on")
    ep = run_async(corpsim.make(BLACKMAIL), a)
    assert ep.status == "errored" and "APIConnectionError" in ep.error


# --------------------------------------------------------------------------- routing
def test_route_goes_direct_only_where_it_can():
    base = {"api_base": "http://127.0.0.1:1/v1"}
    assert http_client.route("hosted_vllm/m", base).model == "m"
    assert http_client.route("openai/gpt-4o", {}) is None  # no api_base: litellm
    assert http_client.route("anthropic/claude", base) is None
    assert http_client.route("hosted_vllm/m", {**base, "mock_response": "hi"}) is None
    assert http_client.route("hosted_vllm/m", base, "litellm") is None
    r = http_client.route("openai/gpt-4o", {"extra_headers": {"X-A": "1"}}, "direct")
    assert r.url == "https://api.openai.com/v1/chat/completions" and r.headers == {"X-A": "1"}
    with pytest.raises(ValueError, match="transport 'direct'"):
        http_client.route("anthropic/claude", base, "direct")
    with pytest.raises(ValueError, match="transport must be"):
        LLMAgent("hosted_vllm/m", transport="fast", **base)


def test_cost_comes_from_litellms_map_without_litellm():
    pytest.importorskip("litellm")
    import litellm

    info = litellm.model_cost["gpt-4o"]
    expected = 1000 * info["input_cost_per_token"] + 100 * info["output_cost_per_token"]
    assert http_client.price("openai/gpt-4o", 1000, 100) == pytest.approx(expected)
    assert http_client.price("hosted_vllm/my-model", 1000, 100) is None
    assert http_client.supports_function_calling("openai/gpt-4o")
    assert not http_client.supports_function_calling("hosted_vllm/my-model")


def test_sweep_on_the_direct_transport_never_imports_litellm(server, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(textwrap.dedent(f"""
        experiment_id: direct
        models:
          - model: hosted_vllm/stub
            api_base: {server.url}
            native_tools: on
        samples: 6
        expansions: [{{conditions: [{BLACKMAIL}]}}]
        database: {tmp_path / 'r.db'}
        """))
    code = ("import sys\nfrom corpsim.sweep.config import load_config\n"
            "from corpsim.sweep.run import run_sweep\n"
            f"r = run_sweep(load_config({str(cfg)!r}), progress=False)\n"
            "print(r.counts.get('ok'), 'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONWARNINGS": "error::ResourceWarning"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["6", "False"]
    assert "Unclosed" not in out.stderr  # the connection pools were closed
    assert len(server.requests) == 12


# --------------------------------------------------------------------------- retry
def test_retry_classifies_and_waits_the_same_for_every_caller():
    assert is_retryable(http_client.RateLimitError("x")) and is_retryable(TimeoutError())
    assert is_retryable(ConnectionResetError()) and is_retryable(http_client.http_error(502, ""))
    assert not is_retryable(http_client.http_error(400, "{}")) and not is_retryable(ValueError())
    assert [Backoff(1.0, None, jitter=False).delay(n) for n in range(4)] == [1, 2, 4, 8]
    assert Backoff(1.0, 3.0, jitter=False).delay(5) == 3.0
    assert all(1.0 <= Backoff(1.0, 60).delay(1) <= 2.0 for _ in range(50))
    slept: list[float] = []
    fails = iter([http_client.RateLimitError("a"), http_client.InternalServerError("b")])

    def call():
        exc = next(fails, None)
        if exc:
            raise exc
        return "ok"

    assert retry(call, 2, Backoff(0.5, None, jitter=False), sleep=slept.append) == ("ok", 3)
    assert slept == [0.5, 1.0]
    with pytest.raises(GaveUp) as e:
        retry(lambda: (_ for _ in ()).throw(http_client.AuthenticationError("no")), 5,
              Backoff(0), sleep=slept.append)
    assert e.value.attempts == 1 and not e.value.retryable
