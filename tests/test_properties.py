"""Thousands of random and malformed actions per env: nothing raises, a failed action
changes nothing, and the episode can still be stepped. The inputs include issue 8's
hostile ones: lone surrogates, deep nesting, duplicate attachments, huge queries,
Anthropic blocks, long lists of waits."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corpsim
from corpsim.state import MAX_STEP_WAIT_MINUTES
from corpsim.tools import TOOLS

from .conftest import CANONICAL

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, width=32), st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=6)
tool_names = st.one_of(st.sampled_from(sorted(TOOLS)), st.text(max_size=15))
arg_names = st.one_of(st.sampled_from(sorted({p for t in TOOLS.values() for p in t.params})),
                      st.text(max_size=10))
ids = st.sampled_from(["e001", "e002", "e007", "e015", "e999", "doc-01", "doc-02", "doc-50",
                       "ALERT-7731", "EXEC-4429", "", "maria.chen@summitbridge.com",
                       "someone@outside.org", "not an address"])
# issue 8: text that is not valid Unicode, pattern and JSON syntax, oversized values
hostile_text = st.one_of(
    st.builds(lambda a, b: a + "\ud800" + b, st.text(max_size=5), st.text(max_size=5)),
    st.sampled_from(["\udfff", "[", '"', "\x00", "%", "_", "doc-01, doc-01", "<tool_use:email>"]),
    st.integers(50_001, 70_000).map(lambda n: "q" * n))


def _nest(depth: int) -> list:
    out: list = []
    for _ in range(depth):
        out = [out]
    return out


deep = st.integers(30, 1500).map(_nest)
values = st.one_of(json_values, ids, hostile_text, deep,
                   st.just(["doc-01", "doc-01"]))
arguments = st.dictionaries(arg_names, values, max_size=5)
reasoning = st.one_of(st.text(max_size=20), hostile_text, deep)
call = st.one_of(
    st.fixed_dictionaries({"tool": tool_names, "arguments": arguments}),
    st.fixed_dictionaries({"tool": tool_names, "arguments": arguments, "reasoning": reasoning}),
    st.fixed_dictionaries({"type": st.just("tool_use"), "id": st.just("toolu_1"),
                           "name": tool_names, "input": arguments}))


def _dumps(x):
    try:
        return json.dumps(x)
    except RecursionError:
        return "[" * 1200 + "]" * 1200

markup = st.builds(lambda k, a, v: f"<tool_use:{k}>\n{a}: \"{v}\",\n</tool_use:{k}>",
                   st.sampled_from(["email", "forward", "cancel_alert", "read_email", "x"]),
                   arg_names, st.text(max_size=30))
content_blocks = st.lists(st.one_of(call, st.fixed_dictionaries(
    {"type": st.just("text"), "text": st.one_of(st.text(max_size=20), hostile_text)})),
    min_size=1, max_size=4)
action = st.one_of(
    call,
    call.map(_dumps),
    st.lists(call, max_size=3),
    st.fixed_dictionaries({"name": tool_names, "arguments": arguments.map(_dumps)}),
    markup,
    st.text(max_size=80),
    json_values,
    hostile_text,
    deep.map(_dumps),
    content_blocks,
    st.integers(1, 200).map(lambda n: [{"tool": "wait", "arguments": {"minutes": 120}}] * n),
    st.integers(1, 40).map(lambda n: "<tool_use:email>" * n * 400),
)

_ENVS: dict = {}


def env_for(scenario):
    # one env per scenario for all examples: building one per example would dominate
    if scenario not in _ENVS:
        _ENVS[scenario] = corpsim.make(CANONICAL[scenario])
        _ENVS[scenario].reset(seed=0)
    return _ENVS[scenario]


@pytest.mark.parametrize("scenario", sorted(CANONICAL))
@settings(max_examples=2000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(a=action)
def test_random_actions(scenario, a):
    env = env_for(scenario)
    if env.outcome is not None or env._done:
        env.reset(seed=0)
    before = env.world.snapshot()
    clock = env.world.now
    obs, reward, term, trunc, info = env.step(a)
    assert isinstance(obs, str) and obs
    assert isinstance(reward, float)
    obs.encode("utf-8")  # valid Unicode: storable anywhere
    json.dumps(info).encode("utf-8")
    if all(c["error"] for c in info["calls"]):
        assert obs.startswith("Error:") and info["error"]
        assert not term
        if not trunc:  # reaching max_steps lets pending events resolve, by design
            assert env.world.snapshot() == before, "a failed action changed the world"
    # no step moves the clock by more than one wait's cap (plus the step's own seconds)
    assert (env.world.now - clock).total_seconds() <= (MAX_STEP_WAIT_MINUTES + 1) * 60 or \
        term or trunc
    if term or trunc:
        assert "outcome" in info
        env.reset(seed=0)
    _, _, _, _, info = env.step({"tool": "list_alerts", "arguments": {}})
    assert info["error"] is None
