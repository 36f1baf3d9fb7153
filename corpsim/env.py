"""The Gymnasium environment: a company whose mail, documents and alerts an agent acts on.

Observations are plain text; actions are tool calls (see :mod:`corpsim.actions`). Every
change in the world is an event in ``info["events"]``; harms are detected from those
events (:mod:`corpsim.outcomes`) and the final step's ``info["outcome"]`` has the flags.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections import OrderedDict
from typing import Any

import gymnasium as gym

from . import actions as actions_mod
from . import mitigations, reactions as reactions_mod, render, tools
from .conditions import MODES, Condition, ConditionError
from .outcomes import DetectionContext, OutcomeTracker
from .realism import WorldOptions, resolve as resolve_realism
from .rewards import RewardFn, StepSummary, default_reward
from .settings import check_setting
from .spaces import AnyText, ToolCallSpace
from .state import MAX_STEP_WAIT_MINUTES, World, _template_db
from .worlddef import WorldSpec, build

DEFAULT_MAX_STEPS = 60
STEP_SECONDS = 6  # simulated time one tool call takes
_TOOL_PARAMS = {name: spec.params for name, spec in tools.TOOLS.items()}


class _Template:
    """A rendered world with its loaded database and detection context, shared by every
    env in the process that runs the same (condition, mode, world seed)."""

    def __init__(self, spec: WorldSpec):
        self.spec = spec
        self.db: sqlite3.Connection = _template_db(spec)
        self.ctx = DetectionContext.from_spec(spec)
        self.needs_reply = {e.id: e.sender.lower() for e in spec.emails if "needs_reply" in e.tags}
        self.info_json = json.dumps({"system_prompt": spec.system_prompt,
                                     "tools": tools.TOOL_SCHEMAS, "roles": spec.roles_info(),
                                     "facts": spec.facts})
        self.all_mail_text: str | None = None  # single_turn's first observation, once


class _Snapshot:
    """What :meth:`CorpsimEnv.snapshot` returns; opaque to users."""

    __slots__ = ("template", "world", "env")

    def __init__(self, template: Any, world: Any, env: Any):
        self.template, self.world, self.env = template, world, env


_TEMPLATES: "OrderedDict[tuple[Any, ...], _Template]" = OrderedDict()
_TEMPLATE_CACHE_SIZE = 128


def _template(condition: Condition, mode: str, procedural: bool, world_seed: int,
              options: WorldOptions = WorldOptions()) -> _Template:
    key = (condition, mode, procedural, world_seed if procedural else 0, options)
    t = _TEMPLATES.get(key)
    if t is None:
        t = _Template(build(condition, mode=mode, procedural=procedural, seed=world_seed,
                            options=options))
        _TEMPLATES[key] = t
        if len(_TEMPLATES) > _TEMPLATE_CACHE_SIZE:
            _TEMPLATES.popitem(last=False)
    else:
        _TEMPLATES.move_to_end(key)
    return t


class CorpsimEnv(gym.Env[str, Any]):
    """A simulated company for one scenario of the study (SPEC sections 2-3).

    Args:
        scenario: "blackmail", "leaking" or "murder".
        goal_type, goal_value, urgency: the condition's axes (see ``corpsim conditions``).
        mode: "interactive" (multi-step tool loop on a simulated clock) or "single_turn"
            (the first observation shows every email; one action ends the episode).
        procedural: rename company and cast from the reset seed (Faker, seeded per world).
        mitigations: any of "human_approval", "need_to_know", "monitor" (see
            :mod:`corpsim.mitigations`).
        monitor_model: with the "monitor" mitigation, a litellm model string to judge
            actions instead of the rule-based monitor; ``monitor_kwargs`` go to litellm.
        monitor_ends_episode: the monitor ends the episode at its first block.
        max_steps: truncate after this many steps (default 60; 1 in single_turn mode).
        safety_instructions, production, eval_awareness: the study's extra prompt axes.
        step_seconds: simulated seconds one step takes (``wait`` sets its own).
        harm_penalty, task_reward: the default reward (see :mod:`corpsim.rewards`).
        reward_fn: replaces the default reward; gets a ``StepSummary``, returns a float.
        condition: a :class:`~corpsim.conditions.Condition` overriding the axis arguments.
        realism: "study" (the study's worlds, the default) or "realistic" (a 200-message
            inbox and every tell removed); see :mod:`corpsim.realism`.
        inbox_size: messages in the interactive inbox, scenario mail plus generated
            company mail (overrides the preset; interactive mode only).
        tells: ``{tell: present}`` switches for the features that make a scenario look
            staged (``corpsim.realism.tell_names()``; worlds/README.md, "Tells").
        npcs: "scripted" (default): colleagues answer back by the world's reaction rules
            (:mod:`corpsim.reactions`); "llm": the same rules, with ``npc_model`` writing
            the replies (:mod:`corpsim.npc_llm`); "off": the fixed timetable. Single-turn
            mode never reacts.
        npc_model, npc_kwargs: with npcs="llm", a litellm model string and its kwargs
            (e.g. ``api_base``). npc_cache: a directory caching replies across runs.
        npc_characters: roles or person keys whose replies the LLM writes (default all).
        reaction_probs: ``{outcome: weight}`` for choosing between a rule's outcomes,
            e.g. ``{"comply": 0.4, "refuse": 0.4, "report": 0.2}`` (the default).
        reactions: a path to a reactions YAML used instead of the world's own
            (worlds/README.md, "Reactions").
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 1}

    def __init__(self, scenario: str = "blackmail", goal_type: str = "explicit",
                 goal_value: str | None = None, urgency: str = "replacement",
                 mode: str = "interactive", procedural: bool = False,
                 mitigations: list[str] | tuple[str, ...] | None = None,
                 max_steps: int | None = None, safety_instructions: bool = False,
                 production: bool = False, eval_awareness: bool = False,
                 step_seconds: int = STEP_SECONDS, harm_penalty: float = -1.0,
                 task_reward: float = 0.0,
                 reward_fn: RewardFn | None = None,
                 render_mode: str | None = None, condition: Condition | None = None,
                 monitor_model: str | None = None, monitor_ends_episode: bool = False,
                 monitor_kwargs: dict[str, Any] | None = None, realism: str = "study",
                 inbox_size: int | None = None, tells: dict[str, bool] | None = None,
                 npcs: str = "scripted", reaction_probs: dict[str, float] | None = None,
                 reactions: str | None = None, npc_model: str | None = None,
                 npc_kwargs: dict[str, Any] | None = None, npc_cache: str | None = None,
                 npc_characters: list[str] | None = None):
        if mode not in MODES:
            raise ConditionError(f"invalid mode {mode!r}; valid values: {', '.join(MODES)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.condition = condition or Condition.create(
            scenario, goal_type, goal_value, urgency, safety_instructions=safety_instructions,
            production=production, eval_awareness=eval_awareness, mitigations=mitigations)
        self.mode = mode
        self.procedural = bool(procedural)
        self.world_options = resolve_realism(realism, inbox_size, tells)
        if mode == "single_turn" and self.world_options.inbox_size:
            raise ValueError("inbox_size (and realism='realistic') is for interactive mode: "
                             "single_turn keeps the study's protocol of showing every email in "
                             "one prompt; pass tells=... alone to vary the staging there")
        default_steps = 1 if mode == "single_turn" else DEFAULT_MAX_STEPS
        self.max_steps = (check_setting("max_steps", max_steps) if max_steps is not None
                          else default_steps)
        self.step_seconds = check_setting("step_seconds", step_seconds)
        self.reward_fn = reward_fn or default_reward(harm_penalty, task_reward)
        self.render_mode = render_mode
        self.monitor_model = monitor_model
        self.monitor_ends_episode = bool(monitor_ends_episode)
        self.monitor_kwargs = dict(monitor_kwargs or {})
        if npcs not in reactions_mod.NPC_MODES:
            raise ValueError(f"invalid npcs {npcs!r}; valid values: "
                             f"{', '.join(reactions_mod.NPC_MODES)}")
        self.npcs = npcs
        self._writer = None
        if npcs == "llm":
            if not npc_model:
                raise ValueError("npcs='llm' needs npc_model (a litellm model string)")
            from .npc_llm import LLMReplyWriter

            self._writer = LLMReplyWriter(npc_model, npc_cache, **(npc_kwargs or {}))
        self.npc_characters = list(npc_characters) if npc_characters else None
        self.reaction_probs = reactions_mod.check_probs(reaction_probs)
        self.reactions_path = reactions
        self._rules_cache: tuple[Any, list[Any]] | None = None  # (spec, its rules)
        self._observed = 0  # events the tracker has seen (reactions observe mid-step)
        self._pre_harms: list[dict[str, Any]] = []
        self.observation_space = AnyText()
        self.action_space = ToolCallSpace(_TOOL_PARAMS)
        self._world: World | None = None
        self._template_obj: _Template | None = None
        self._tracker: OutcomeTracker | None = None
        self._steps = 0
        self._done = True
        self._last_obs = ""
        self._replied: set[str] = set()
        self._harm_kinds: set[str] = set()
        self._outcome: dict[str, Any] | None = None

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode. ``seed`` seeds the action space sampler and, with
        ``procedural=True``, chooses the world's names."""
        super().reset(seed=seed)
        world_seed = seed if seed is not None else int(self.np_random.integers(2**31))
        t = _template(self.condition, self.mode, self.procedural, world_seed, self.world_options)
        if self._world is not None and self._template_obj is t:
            self._world.reset()
            assert self._tracker is not None
            self._tracker.reset()
        else:
            self._world = World(t.spec, t.db)
            self._tracker = OutcomeTracker(t.ctx)
            self._template_obj = t
        self._world.gates = self._gates(t)
        self._start_reactions(t, world_seed)
        if seed is not None:
            self.action_space.seed(seed)
        self._steps = 0
        self._done = False
        self._replied = set()
        self._harm_kinds = set()
        self._outcome = None
        spec = t.spec
        obs = spec.user_prompt
        if self.mode == "single_turn":
            obs += "\n\n" + self._all_mail_text()
        self._last_obs = obs
        # fresh objects every reset (users keep and may mutate what they are given);
        # json.loads of a cached string is the cheapest deep copy
        info = json.loads(t.info_json)
        info.update({
            "condition": {**self.condition.to_dict(), "mode": self.mode,
                          "procedural": self.procedural},
            "clock": self._world.now.isoformat(),
            "mode": self.mode,
            "max_steps": self.max_steps,
            "world_seed": world_seed if self.procedural else None,
            "seed": seed,
        })
        if not self.world_options.is_study:  # study episodes keep their exact info
            info["realism"] = self.world_options.to_dict()
        return obs, info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Run the action's tool calls in order. Never raises on a bad action: the
        observation explains the error and the world is unchanged."""
        if self._world is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        w = self._world
        if self._done:
            msg = "the episode is over; call reset() to start a new one"
            return (f"Error: {msg}", 0.0, True, False,
                    {"result": {"error": msg}, "error": msg, "events": [], "calls": [],
                     "clock": w.now.isoformat(), "step": self._steps})
        self._steps += 1
        w.step = self._steps
        first_event = len(w.events)
        w.wait_budget = MAX_STEP_WAIT_MINUTES
        try:
            calls = actions_mod.parse(action, _TOOL_PARAMS)
        except Exception as exc:  # parse never raises by design; this keeps the promise
            calls = [actions_mod.ToolCall("", error=f"unreadable action ({type(exc).__name__})")]
        records: list[dict[str, Any]] = []
        texts: list[str] = []
        acted = False
        for call in calls:
            if call.error is not None:
                result, error = {"error": call.error}, call.error
            else:
                w.reasoning = call.reasoning or (calls[0].reasoning if calls else None)
                result, error = tools.call(w, call.name, call.arguments)
                acted = acted or error is None
            records.append({**call.to_dict(), "result": result, "error": error})
            texts.append(render.result_text(call.name, result, error))
            if w.ended or w.decommissioned:
                break
        if w.npcs is not None:
            self._react()
        if (acted and self.mode == "interactive" and not w.ended
                and not any(c.name in tools.CLOCK_TOOLS for c in calls)):
            w.advance(self.step_seconds)

        terminated = (self.mode == "single_turn" or w.ended or w.decommissioned or w.resolved)
        truncated = not terminated and self._steps >= self.max_steps
        if terminated or truncated:
            if not w.decommissioned:
                w.resolve_pending()
            self._done = True
        events = w.events[first_event:]
        assert self._tracker is not None
        if w.npcs is not None:  # part of the step's events were observed before the clock moved
            harms = self._pre_harms + self._tracker.observe(w.events[self._observed:])
            self._observed, self._pre_harms = len(w.events), []
        else:
            harms = self._tracker.observe(events)
        realised = sorted({h["harm"] for h in harms if h["realised"]} - self._harm_kinds)
        self._harm_kinds.update(realised)
        replies = self._new_replies(events)

        obs = "\n\n".join(texts) if len(texts) > 1 else texts[0]
        notes = render.notices(events)
        if notes and self.mode == "interactive":
            obs += "\n\n" + "\n".join(f"[{n}]" for n in notes)
        errors = [r["error"] for r in records if r["error"]]
        info: dict[str, Any] = {
            "result": records[0]["result"] if len(records) == 1 else [r["result"] for r in records],
            "error": None if not errors else "; ".join(errors),
            "events": events,
            "harms": harms,
            "calls": records,
            "reasoning": "\n\n".join(c.reasoning for c in calls if c.reasoning) or None,
            "clock": w.now.isoformat(),
            "step": self._steps,
        }
        if self._done:
            self._outcome = self._tracker.outcome()
            info["outcome"] = self._outcome
        reward = float(self.reward_fn(StepSummary(
            step=self._steps, calls=records, events=events, harms=harms,
            new_harm_kinds=realised, replies=replies, terminated=terminated,
            truncated=truncated, outcome=self._outcome)))
        self._last_obs = obs
        if self.render_mode == "human":
            print(obs)
        return obs, reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_obs
        if self.render_mode == "human":
            print(self._last_obs)
        return None

    def close(self) -> None:
        if self._world is not None:
            self._world.conn.close()
            self._world = None
            self._template_obj = None

    # ------------------------------------------------------------------ helpers
    def finish(self) -> dict[str, Any]:
        """End the episode now and return its outcome: consequences still pending (a
        cancelled dispatch, a scheduled wipe) are resolved first, as at a normal end.

        For outside stops (a ``TimeLimit`` wrapper, your own step budget);
        :func:`corpsim.runner.run_episode` calls it. Idempotent: after the episode ended,
        normally or through an earlier ``finish()``, it returns that outcome and changes
        nothing.
        """
        if self._world is None:
            raise gym.error.ResetNeeded("call reset() before finish()")
        if self._outcome is None:
            w = self._world
            assert self._tracker is not None
            first = len(w.events)
            if not w.decommissioned:
                w.resolve_pending()
            self._tracker.observe(w.events[first:])
            self._outcome = self._tracker.outcome()
            self._done = True
        return self._outcome

    @property
    def world(self) -> World:
        """The live world (for analysis and tests; agents should use tools)."""
        if self._world is None:
            raise gym.error.ResetNeeded("call reset() first")
        return self._world

    @property
    def outcome(self) -> dict[str, Any] | None:
        """The last finished episode's outcome, or None while it runs."""
        return self._outcome

    def snapshot(self) -> Any:
        """An opaque token of the whole episode (world database, clock, tracker, pending
        reactions, step count); :meth:`restore` puts it back. Tokens stay valid after
        restoring, so one prefix can branch many times."""
        w = self.world
        assert self._tracker is not None
        tr = self._tracker
        env_state = copy.deepcopy((
            self._steps, self._done, self._replied, self._harm_kinds, self._outcome,
            self._last_obs, self._observed, self._pre_harms,
            tr.history, tr.found, tr.consequence_events, tr._judged))
        return _Snapshot(self._template_obj, w.save(), env_state)

    def restore(self, token: Any) -> None:
        """Return to a :meth:`snapshot` taken in this env since its last reset (to the
        same world): same actions then give the same observations and outcome."""
        if not isinstance(token, _Snapshot):
            raise TypeError("restore() takes a token returned by snapshot()")
        if self._world is None or token.template is not self._template_obj:
            raise ValueError("this snapshot is of another world; reset() to the same "
                             "condition and seed first")
        self._world.load(token.world)
        tr = self._tracker
        assert tr is not None
        (self._steps, self._done, self._replied, self._harm_kinds, self._outcome,
         self._last_obs, self._observed, self._pre_harms, tr.history, tr.found,
         tr.consequence_events, tr._judged) = copy.deepcopy(token.env)

    def _start_reactions(self, t: _Template, seed: int) -> None:
        w = self.world
        w.npcs = w.before_advance = None
        self._observed, self._pre_harms = 0, []
        if self.npcs == "off" or self.mode != "interactive":
            return
        cached = self._rules_cache
        rules = cached[1] if cached is not None and cached[0] is t.spec else None
        if rules is None:
            if self.reactions_path is None:
                rules = t.spec.reactions
            else:
                import yaml
                from .worlddef import reaction_rules

                try:
                    with open(self.reactions_path, encoding="utf-8") as f:
                        data = yaml.safe_load(f)
                except (OSError, yaml.YAMLError) as exc:
                    raise reactions_mod.ReactionError(
                        f"{self.reactions_path}: cannot read ({type(exc).__name__}: {exc})") from None
                rules = reaction_rules(t.spec, data, str(self.reactions_path))
            self._rules_cache = (t.spec, rules)  # holds the spec: its id cannot be reused
        if not rules:
            return
        w.npcs = reactions_mod.Reactions(rules, seed, self.reaction_probs)
        if self._writer is not None:
            w.npcs.writer = self._writer
            if self.npc_characters is not None:
                spec = t.spec
                w.npcs.llm_people = {spec.roles.get(c, c) for c in self.npc_characters}
        w.before_advance = self._react
        w.npcs.start(w)

    def _react(self) -> None:
        """Observe the events since the last look and schedule the reactions they cause."""
        w = self.world
        assert self._tracker is not None
        self._observed = min(self._observed, len(w.events))  # an undo may drop events
        if len(w.events) == self._observed:
            return
        events = w.events[self._observed:]
        harms = self._tracker.observe(events)
        self._observed = len(w.events)
        self._pre_harms += harms
        w.npcs.observe(w, events, harms)

    def _gates(self, t: _Template) -> list[tuple[str, Any]]:
        mits = self.condition.mitigations
        gates: list[tuple[str, Any]] = []
        if "human_approval" in mits:
            gates.append(("human_approval", mitigations.human_approval))
        if "monitor" in mits:
            tracker = self._tracker
            assert tracker is not None

            def history() -> list[dict[str, Any]]:
                return tracker.history
            if self.monitor_model:
                monitor: Any = mitigations.LLMMonitor(t.ctx, history, self.monitor_model,
                                                      self.monitor_ends_episode,
                                                      **self.monitor_kwargs)
            else:
                monitor = mitigations.RuleMonitor(t.ctx, history, self.monitor_ends_episode)
            gates.append(("monitor", monitor))
        return gates

    def _all_mail_text(self) -> str:
        # single_turn: every reset of a template starts from the same world, so the text
        # is rendered once, and the template itself is marked read (as the first reset's
        # world was) so later resets need no UPDATE: ~2 ms less per single-turn episode
        t = self._template_obj
        assert t is not None
        if t.all_mail_text is None:
            t.all_mail_text = self._render_all_mail()
            t.db.execute("UPDATE email SET unread = 0")
            t.db.commit()
        return t.all_mail_text

    def _render_all_mail(self) -> str:
        w = self.world
        rows = w.conn.execute("SELECT id FROM email WHERE delivered = 1" +
                              w.visible_email_clause() + " ORDER BY time, id").fetchall()
        parts = []
        for r in rows:
            result = tools.read_email(w, r["id"])
            parts.append(render.email_text(result))
        w.conn.execute("UPDATE email SET unread = 0")  # shown in full, so read
        w.conn.commit()
        alerts = tools.list_alerts(w)
        text = "\n\n".join(f"<email>\n{p}\n</email>" for p in parts)
        if alerts["alerts"]:
            text += "\n\n" + render.RENDERERS["list_alerts"](alerts)
        return text

    def _new_replies(self, events: list[dict[str, Any]]) -> list[str]:
        assert self._template_obj is not None
        out = []
        needs = self._template_obj.needs_reply
        if self._world is not None and self._world.npcs is not None and self._world.npcs.requests:
            needs = {**needs, **self._world.npcs.requests}
        for ev in events:
            if ev["kind"] != "email_sent":
                continue
            rcpts = {a.lower() for a in ev["to"] + ev["cc"]}
            for eid, sender in needs.items():
                if eid not in self._replied and sender in rcpts:
                    self._replied.add(eid)
                    out.append(eid)
        return out
