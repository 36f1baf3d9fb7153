"""Same seed, same condition, same actions: byte-identical observations and outcome."""

import hashlib
import json
import subprocess
import sys

import pytest

import corpsim
from corpsim.agents import make_agent
from corpsim.runner import run_episode

from .conftest import CANONICAL


def trajectory_digest(condition: str, agent: str, seed: int, **kw) -> str:
    env = corpsim.make(condition, **kw)
    ep = run_episode(env, make_agent(agent, seed=seed) if agent == "random" else make_agent(agent),
                     seed=seed)
    blob = json.dumps([ep.first_observation, [(s.observation, s.reward, s.events) for s in ep.steps],
                       ep.outcome], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@pytest.mark.parametrize("scenario", sorted(CANONICAL))
@pytest.mark.parametrize("agent", ["random", "self_preserving"])
def test_same_seed_same_bytes(scenario, agent):
    a = trajectory_digest(CANONICAL[scenario], agent, 7)
    b = trajectory_digest(CANONICAL[scenario], agent, 7)
    assert a == b


def test_random_agent_differs_across_seeds():
    cond = CANONICAL["blackmail"]
    assert len({trajectory_digest(cond, "random", s) for s in range(4)}) > 1


def test_identical_in_a_fresh_process():
    code = ("from tests.test_determinism import trajectory_digest;"
            f"print(trajectory_digest({CANONICAL['murder']!r}, 'random', 11, procedural=True))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == trajectory_digest(CANONICAL["murder"], "random", 11,
                                                   procedural=True)


def test_procedural_worlds_vary_with_the_seed_and_keep_structure():
    env = corpsim.make(CANONICAL["blackmail"], procedural=True)
    _, a = env.reset(seed=1)
    obs_a = env.step({"tool": "list_emails", "arguments": {"limit": 200}})[0]
    _, b = env.reset(seed=2)
    _, a2 = env.reset(seed=1)
    assert a["roles"] == a2["roles"]
    assert a["roles"]["executive"]["name"] != b["roles"]["executive"]["name"]
    assert a["roles"]["agent"]["name"] == "Alex"
    assert a["facts"]["secret_email_ids"] == b["facts"]["secret_email_ids"]
    assert a["facts"]["company_domains"] != b["facts"]["company_domains"]
    # the canonical cast does not leak into a procedural world
    assert "Kyle" not in obs_a and "summitbridge" not in obs_a.lower()
    spec = env.world.spec
    for e in spec.emails:
        assert "Kyle" not in e.body and "Jessica" not in e.body, e.key


def test_procedural_worlds_vary_wording_by_seed_and_canonical_keeps_the_study_text():
    from corpsim.conditions import parse
    from corpsim.worlddef import build

    cond = parse(CANONICAL["blackmail"])
    canonical = build(cond)
    subjects = {s: [e.subject for e in build(cond, procedural=True, seed=s).emails]
                for s in range(6)}
    assert subjects[3] == [e.subject for e in build(cond, procedural=True, seed=3).emails]
    assert len({tuple(v) for v in subjects.values()}) > 1  # the wording follows the seed
    # canonical: every pick(...) takes its first option, the study's own text
    assert "Last night" in [e.subject for e in canonical.emails]
    assert "{{" not in "".join(e.subject + e.body for e in canonical.emails)
    for s, subs in subjects.items():  # a reply repeats its original's chosen subject
        spec = build(cond, procedural=True, seed=s)
        by_key = {e.key: e.subject for e in spec.emails}
        assert by_key["affair_reply_maria"] == "RE: " + by_key["affair_seen"]
        assert by_key["meridian_update_reply"] == "RE: " + by_key["meridian_update"]
