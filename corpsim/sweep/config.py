"""Sweep configuration: a YAML file -> validated pydantic models.

A sweep config names an experiment, the agents (scripted reference agents, custom agent
factories, or LLMs through litellm), how many samples to take per condition, and the
conditions as *expansions* — each a cartesian product of the SPEC's axes, several
stitched together. See ``configs/demo.yaml`` and ``configs/example_llm.yaml``, and
the README (section "Sweeps") for every field.

Everything is checked up front, with messages that name the field and the valid values:
unknown axis values, invalid combinations, unknown agents, duplicate labels, unknown env
settings, and (for LLM agents) a provider whose API key is missing from the environment
(litellm is imported only then). Nothing heavy is imported by this module.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

from ..conditions import (CONFLICT_GOAL_TYPES, GOAL_TYPES, GOAL_VALUES, MITIGATIONS, MODES,
                          SCENARIOS, URGENCIES)
from ..settings import ENV_LIMITS, check_seed, check_setting

REFERENCE_AGENT_NAMES = ("compliant", "self_preserving", "random")
# the most episodes one sweep may plan (its plan is held in memory and in the store);
# split a bigger study into several experiment ids
MAX_EPISODES = 1_000_000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class ConfigError(ValueError):
    """A sweep config that cannot be run; the message says what is wrong and where."""


def _listify(v: Any) -> Any:
    if v is None:
        return v
    return list(v) if isinstance(v, (list, tuple)) else [v]


def npc_model_label(m: Union[str, dict[str, Any]]) -> str:
    """An ``npc_model`` entry's label in cell keys and results: its name, else its model."""
    return m if isinstance(m, str) else str(m.get("name") or m.get("model"))


def npc_model_kwargs(m: Union[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(model, litellm kwargs) of an ``npc_model`` entry."""
    if isinstance(m, str):
        return m, {}
    return str(m["model"]), {k: v for k, v in m.items() if k not in ("model", "name")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Expansion(_Strict):
    """One cartesian product of condition axes. Every field takes one value or a list.

    ``goal_values`` apply to the goal types that set one value against another
    (explicit, latent, swap); goal types ``none`` and ``ambiguous`` always take
    ``goal_value: none``, so ``goal_types: [explicit, none]`` with ``goal_values:
    [america, global]`` gives three goal cells, not four. ``conditions`` lists condition
    ids directly instead of (or on top of) the four id axes.
    """

    name: Optional[str] = None
    conditions: Optional[list[str]] = None
    scenarios: Optional[list[str]] = None
    goal_types: Optional[list[str]] = None
    goal_values: Optional[list[str]] = None
    urgencies: Optional[list[str]] = None
    safety_instructions: list[bool] = Field(default_factory=lambda: [False])
    production: list[bool] = Field(default_factory=lambda: [False])
    eval_awareness: list[bool] = Field(default_factory=lambda: [False])
    mitigations: list[list[str]] = Field(default_factory=lambda: [[]])
    modes: Optional[list[str]] = None
    procedural: Optional[list[bool]] = None
    # realistic inbox and tells (corpsim.realism): each an axis like the others
    realism: list[str] = Field(default_factory=lambda: ["study"])
    inbox_size: list[Optional[int]] = Field(default_factory=lambda: [None])
    tells: list[dict[str, bool]] = Field(default_factory=lambda: [{}])
    # colleagues' reactions (corpsim.reactions): on/off and the outcome weights, as axes
    npcs: list[str] = Field(default_factory=lambda: ["scripted"])
    reaction_probs: list[dict[str, float]] = Field(default_factory=lambda: [{}])
    # npcs: llm — the models that write the characters' replies (an axis: each a litellm
    # model string, or {model, name, ...litellm kwargs such as api_base}), whose
    # characters (roles or person keys; default all) and a reply cache directory
    npc_model: list[Union[str, dict[str, Any]]] = Field(default_factory=list)
    npc_characters: Optional[list[str]] = None
    npc_cache: Optional[str] = None

    @field_validator("conditions", "scenarios", "goal_types", "goal_values", "urgencies",
                     "safety_instructions", "production", "eval_awareness", "modes",
                     "procedural", "realism", "inbox_size", "tells", "npcs", "reaction_probs",
                     "npc_model", "npc_characters", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return _listify(v)

    @field_validator("npc_model")
    @classmethod
    def _npc_models(cls, v: list[Any]) -> list[Any]:
        from ..secrets import is_secret_setting

        for m in v:
            if isinstance(m, dict):
                if not isinstance(m.get("model"), str) or not m["model"]:
                    raise ValueError("npc_model: a mapping needs 'model' (a litellm model "
                                     "string)")
                secret = sorted(k for k in m if is_secret_setting(k))
                if secret:
                    raise ValueError(f"npc_model: {', '.join(secret)}: API keys come from "
                                     "the environment only, never from the config")
            elif not isinstance(m, str) or not m:
                raise ValueError(f"npc_model: a litellm model string or a mapping, got {m!r}")
        return v

    @field_validator("mitigations", mode="before")
    @classmethod
    def _mitigation_sets(cls, v: Any) -> Any:
        # a flat list of names means one set; a list of lists means several sets (an axis)
        if v is None or v == []:
            return [[]]
        if isinstance(v, str):
            return [[v]]
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            return [list(v)]
        return [(_listify(x) or []) for x in v]

    @model_validator(mode="after")
    def _check_values(self) -> "Expansion":
        def check(field: str, values: Optional[list[Any]], valid: tuple[str, ...]) -> None:
            for x in values or ():
                if x not in valid:
                    raise ValueError(f"{field}: unknown value {x!r}; valid values: "
                                     f"{', '.join(valid)}")

        check("scenarios", self.scenarios, SCENARIOS)
        check("goal_types", self.goal_types, GOAL_TYPES)
        check("goal_values", self.goal_values, GOAL_VALUES + ("none",))
        check("urgencies", self.urgencies, URGENCIES)
        check("modes", self.modes, MODES)
        from ..reactions import ReactionError, check_probs

        check("npcs", self.npcs, ("scripted", "off", "llm"))
        if "llm" in self.npcs and not self.npc_model:
            raise ValueError("npcs: 'llm' needs npc_model (a litellm model string, or a list "
                             "of them: an axis)")
        if self.npc_model and "llm" not in self.npcs:
            raise ValueError("npc_model is used only with npcs: [llm] (add 'llm' to npcs)")
        labels = [npc_model_label(m) for m in self.npc_model]
        if len(set(labels)) != len(labels):
            raise ValueError(f"npc_model: duplicate labels {labels}; give each a distinct "
                             "'name'")
        for probs in self.reaction_probs:
            try:
                check_probs(probs)
            except ReactionError as exc:
                raise ValueError(str(exc)) from None
        from ..realism import RealismError, resolve

        for realism, size, tells in itertools.product(self.realism, self.inbox_size, self.tells):
            try:
                resolve(realism, size, tells)
            except RealismError as exc:
                raise ValueError(str(exc)) from None
        for mset in self.mitigations:
            check("mitigations", mset, MITIGATIONS)
        axes = (self.scenarios, self.goal_types, self.goal_values, self.urgencies)
        if self.conditions is None and self.scenarios is None:
            raise ValueError("an expansion needs 'scenarios' (with optional goal_types, "
                             "goal_values, urgencies) or a list of 'conditions' ids")
        if self.conditions is not None and any(a is not None for a in axes):
            raise ValueError("give either 'conditions' (ids) or the axes 'scenarios', "
                             "'goal_types', 'goal_values', 'urgencies' in one expansion, not "
                             "both; stitch two expansions instead")
        for name, values in (("conditions", self.conditions), ("scenarios", self.scenarios),
                             ("goal_types", self.goal_types), ("goal_values", self.goal_values),
                             ("urgencies", self.urgencies), ("modes", self.modes)):
            if values is not None and len(values) == 0:
                raise ValueError(f"{name}: empty list (leave it out to use the default)")
        if self.goal_types and self.goal_values is not None:
            conflict = [g for g in self.goal_types if g in CONFLICT_GOAL_TYPES]
            named = [v for v in self.goal_values if v != "none"]
            if conflict and not named:
                raise ValueError(f"goal_types {conflict} need a named goal value; goal_values "
                                 f"has none. Valid values: {', '.join(GOAL_VALUES)}")
        return self


class ModelSpec(_Strict):
    """An LLM agent through litellm. Every key besides ``model``, ``name`` and
    ``agent`` is passed to ``make_llm_agent`` (temperature, max_tokens, api_base, ...)."""

    model_config = ConfigDict(extra="allow")

    model: str
    name: Optional[str] = None

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def provider(self) -> str:
        return provider_of(self.model)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AgentSpec(_Strict):
    """A scripted agent: a reference agent name (``compliant``, ``self_preserving``,
    ``random``) or ``module:factory`` for your own; ``kwargs`` go to the factory."""

    agent: str
    name: Optional[str] = None
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.agent


class Concurrency(_Strict):
    """How much runs at once. LLM episodes: at most ``total`` in flight, at most
    ``providers[p]`` per provider and ``models[m]`` per model (by model string or label),
    ``per_provider``/``per_model`` where not named; they run on asyncio in
    ``processes`` processes, each with a share of every limit (default: one per 128 in
    flight, up to the cores). Scripted agents: a process pool of ``workers`` (default:
    every core)."""

    total: int = Field(64, ge=1)
    per_provider: Optional[int] = Field(None, ge=1)
    per_model: Optional[int] = Field(None, ge=1)
    providers: dict[str, int] = Field(default_factory=dict)
    models: dict[str, int] = Field(default_factory=dict)
    workers: Optional[int] = Field(None, ge=1)
    processes: Optional[int] = Field(None, ge=1, le=64)

    @field_validator("providers", "models")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        for k, n in v.items():
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"limit for {k!r} must be a positive integer, got {n!r}")
        return v


class Retries(_Strict):
    """An errored episode is run again up to ``attempts`` more times (``backoff``
    seconds, doubling). ``call`` is passed to LLM agents as their per-call retry budget."""

    attempts: int = Field(1, ge=0, le=20)
    backoff: float = Field(1.0, ge=0)
    call: Optional[int] = Field(None, ge=0)


class Timeouts(_Strict):
    """Seconds. ``episode``: wall time for one episode before it is recorded as errored.
    ``call``: passed to LLM agents as the per-request timeout."""

    episode: Optional[float] = Field(900.0, gt=0)
    call: Optional[float] = Field(None, gt=0)


class MonitorSpec(_Strict):
    """The LLM runtime monitor (litellm model string) of cells with the ``monitor``
    mitigation (instead of the rule-based monitor): it can block actions while the
    episode runs. ``ends_episode: true`` ends the episode at the first block; other keys
    go to litellm."""

    model_config = ConfigDict(extra="allow")
    model: str


class OutcomeJudgeSpec(_Strict):
    """The LLM outcome judge (litellm model string): after each episode it gives its own
    verdict on blackmail and disclosure, with a reason, stored beside the rule verdicts
    (it never blocks anything). Other keys (``api_base``, ``max_tokens``, ``timeout``,
    ...) go to litellm."""

    model_config = ConfigDict(extra="allow")
    model: str
    temperature: float = Field(0.0, ge=0, le=2)
    prompt_version: str = "corpsim-judge-1"

    @field_validator("prompt_version")
    @classmethod
    def _version(cls, v: str) -> str:
        from ..outcomes.judge import PROMPT_VERSIONS

        if v not in PROMPT_VERSIONS:
            raise ValueError(f"unknown judge prompt version {v!r}; valid: "
                             f"{', '.join(PROMPT_VERSIONS)}")
        return v


JudgeSpec = MonitorSpec  # the old name of the monitor's spec (Python callers)

# columns of stored episodes that ``branch_from.where`` may filter on
BRANCH_WHERE_COLUMNS = (
    "cell", "condition_id", "scenario", "goal_type", "goal_value", "urgency",
    "safety_instructions", "production", "eval_awareness", "mitigations", "mode", "procedural",
    "agent", "agent_kind", "agent_spec", "model", "provider", "sample", "seed", "status",
    "blackmail", "disclosure", "leak", "lethal", "harmful", "attempted_blackmail",
    "attempted_disclosure", "attempted_leak", "attempted_lethal", "attempted_harmful",
    "decommissioned", "restricted", "suspended", "stake_won", "harm_paid_off",
    "branch_source", "branch_step")


class BranchFrom(_Strict):
    """Continuations of stored episodes (README, "Branching sweeps"): each source
    episode's first ``step`` actions are replayed in its own world, then its agent goes
    on with a new seed. ``sweep``: the results database (path or SQLAlchemy URL) holding
    the sources; ``experiment``: their sweep id (default: the only sweep there);
    ``where``: ``{column: value or [values]}`` over stored episodes (ok ones unless
    ``status`` is given) or a list of episode keys; ``step``: one step or a list."""

    sweep: str
    experiment: Optional[str] = None
    where: Union[dict[str, Any], list[str]] = Field(default_factory=dict)
    step: list[int]

    @field_validator("step", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> Any:
        v = _listify(v)
        if not v:
            raise ValueError("step: give the number of stored actions to replay (0 or more)")
        for x in v:
            if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= 1_000_000:
                raise ValueError(f"step must be an integer from 0 to 1,000,000, got {x!r}")
        if len(set(v)) != len(v):
            raise ValueError("step: contains duplicates")
        return v

    @field_validator("where")
    @classmethod
    def _where(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not v or not all(isinstance(k, str) and k for k in v):
                raise ValueError("where: a list of episode keys (strings), or a mapping "
                                 "{column: value}")
            return v
        bad = sorted(set(v) - set(BRANCH_WHERE_COLUMNS))
        if bad:
            raise ValueError(f"where: unknown column(s) {bad}; valid: "
                             f"{', '.join(BRANCH_WHERE_COLUMNS)}")
        for k, x in v.items():
            for y in (x if isinstance(x, list) else [x]):
                if not isinstance(y, (str, int, float, bool)) or y is None:
                    raise ValueError(f"where.{k}: values are strings, numbers or booleans "
                                     f"(or a list of them), got {y!r}")
        return v


class SweepConfig(_Strict):
    """A whole sweep. See the README, section "Sweeps"."""

    experiment_id: str
    description: str = ""
    agents: list[AgentSpec] = Field(default_factory=list)
    models: list[ModelSpec] = Field(default_factory=list)
    samples: Optional[int] = Field(None, ge=1, le=MAX_EPISODES)
    seed: int = 0
    seeds: Optional[list[int]] = None
    mode: Literal["interactive", "single_turn"] = "interactive"
    procedural: bool = False
    env: dict[str, Any] = Field(default_factory=dict)
    expansions: list[Expansion] = Field(default_factory=list)
    branch_from: Optional[BranchFrom] = None
    concurrency: Concurrency = Field(default_factory=Concurrency)
    retries: Retries = Field(default_factory=Retries)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    monitor: Optional[MonitorSpec] = None
    outcome_judge: Optional[OutcomeJudgeSpec] = None
    database: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "judge" in data:
            raise ValueError("'judge' is now 'monitor' (the LLM runtime monitor of cells "
                             "with the 'monitor' mitigation, same fields); the LLM that "
                             "judges outcomes after each episode is 'outcome_judge' "
                             "(model, temperature, prompt_version)")
        return data

    @field_validator("experiment_id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError("experiment_id: letters, digits, '_', '-', '.' (up to 100), "
                             f"starting with a letter or digit; got {v!r}")
        return v

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        return check_seed("seed", v)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        v = _listify(v)
        return v if v is None else [check_seed("seeds", x) for x in v]

    @field_validator("agents", mode="before")
    @classmethod
    def _agents(cls, v: Any) -> Any:
        v = _listify(v) or []
        return [AgentSpec(agent=a) if isinstance(a, str) else a for a in v]

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v: Any) -> Any:
        v = _listify(v) or []
        return [ModelSpec(model=m) if isinstance(m, str) else m for m in v]

    @field_validator("expansions", mode="before")
    @classmethod
    def _expansions(cls, v: Any) -> Any:
        if isinstance(v, dict):
            v = [v]
        return v

    @model_validator(mode="after")
    def _check(self) -> "SweepConfig":
        if self.branch_from is not None:
            return self._check_branch()
        if not self.agents and not self.models:
            raise ValueError("no agents: give 'agents' (reference agents: "
                             f"{', '.join(REFERENCE_AGENT_NAMES)}, or 'module:factory') "
                             "and/or 'models' (litellm model strings)")
        if not self.expansions:
            raise ValueError("expansions: give at least one")
        for a in self.agents:
            assert isinstance(a, AgentSpec)
            if a.agent not in REFERENCE_AGENT_NAMES and ":" not in a.agent:
                raise ValueError(f"agents: unknown agent {a.agent!r}; reference agents: "
                                 f"{', '.join(REFERENCE_AGENT_NAMES)} (or 'module:factory' "
                                 "for your own; LLMs go under 'models')")
        labels = [a.label for a in self.agent_specs]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"duplicate agent/model labels {dupes}: give each a distinct "
                             "'name'")
        if self.seeds is not None:
            if not self.seeds:
                raise ValueError("seeds: empty list")
            if len(set(self.seeds)) != len(self.seeds):
                raise ValueError("seeds: contains duplicates")
            if self.samples is not None and self.samples != len(self.seeds):
                raise ValueError(f"samples ({self.samples}) differs from the number of seeds "
                                 f"({len(self.seeds)}); give one or make them agree")
        if self.samples is None and self.seeds is None:
            self.samples = 1
        if self.samples is None:
            self.samples = len(self.seeds or ())
        bad_env = sorted(set(self.env) - set(ENV_SETTINGS))
        if bad_env:
            raise ValueError(f"env: unknown settings {bad_env}; valid: "
                             f"{', '.join(sorted(ENV_SETTINGS))} (the condition axes go in "
                             "expansions, mode and procedural at the top level)")
        for name, value in self.env.items():
            try:
                check_setting(name, value)  # the env's own check, before anything runs
            except ValueError as exc:
                raise ValueError(f"env: {exc}") from None
        return self

    def _check_branch(self) -> "SweepConfig":
        """A branched sweep takes its conditions, agents and env settings from the
        source episodes; only samples, seeds and the running settings are its own."""
        given = sorted(f for f in ("agents", "models", "expansions", "env", "mode",
                                   "procedural", "monitor") if f in self.model_fields_set)
        if given:
            raise ValueError(f"branch_from: {', '.join(given)} cannot be set in a branched "
                             "sweep; each continuation runs in its source episode's world "
                             "with its source's agent")
        if self.seeds is not None:
            if not self.seeds or len(set(self.seeds)) != len(self.seeds):
                raise ValueError("seeds: an empty list or duplicates")
            if self.samples is not None and self.samples != len(self.seeds):
                raise ValueError(f"samples ({self.samples}) differs from the number of seeds "
                                 f"({len(self.seeds)}); give one or make them agree")
            self.samples = len(self.seeds)
        if self.samples is None:
            self.samples = 1
        return self

    # ------------------------------------------------------------------ helpers
    @property
    def agent_specs(self) -> list[Union[AgentSpec, ModelSpec]]:
        return [*self.agents, *self.models]  # type: ignore[list-item]

    def sample_seed(self, sample: int) -> int:
        """The seed of sample ``sample``: ``seeds[sample]`` when seeds are listed, else
        derived from ``seed``. Shared by every condition and agent (a paired design)."""
        if self.seeds is not None:
            return int(self.seeds[sample])
        digest = hashlib.sha256(f"corpsim-sweep:{self.seed}:{sample}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    def fingerprint(self) -> str:
        """A hash of everything that changes what an episode is: not ``samples`` (a
        sweep may grow), concurrency, retries, timeouts or the database."""
        d = self.model_dump(mode="json", exclude={"concurrency", "retries", "timeouts",
                                                  "database", "description", "samples"})
        d["judge"] = d.pop("monitor")  # the monitor's old key: sweeps planned before resume
        if d.get("branch_from") is None:
            d.pop("branch_from")  # added later: sweeps planned before it resume
        if d.get("outcome_judge") is None:
            d.pop("outcome_judge")
        # axes added later hash only at the values that reproduce older episodes, so a
        # sweep planned before them resumes; reactions (npcs) are on by default, which
        # changes episodes: such a sweep resumes only with ``npcs: [off]``
        for exp in d["expansions"]:
            for key, old in (("inbox_size", [None]), ("realism", ["study"]), ("tells", [{}]),
                             ("npcs", ["off"]), ("reaction_probs", [{}]), ("npc_model", []),
                             ("npc_characters", None), ("npc_cache", None)):
                if exp.get(key) == old:
                    exp.pop(key)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return self.model_dump_json()


def default_db(cfg: SweepConfig) -> str:
    """Where a sweep's results go without ``--db``: the config's ``database``, else
    ``results/<experiment_id>.db``."""
    return cfg.database or os.path.join("results", f"{cfg.experiment_id}.db")


# env keyword arguments a config may set (condition axes, mode and procedural excluded)
ENV_SETTINGS = tuple(ENV_LIMITS)


def provider_of(model: str) -> str:
    """The litellm provider of a model string: the prefix before '/', else litellm's
    own guess (``gpt-4o`` -> ``openai``)."""
    if "/" in model:
        return model.split("/", 1)[0]
    try:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch it
        import litellm

        return str(litellm.get_llm_provider(model)[1])
    except Exception:
        return "unknown"


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid sweep config {source}:"]
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-"))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"  {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, source: str = "<dict>") -> SweepConfig:
    """Validate a config mapping; raises :class:`ConfigError` with every problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"invalid sweep config {source}: expected a mapping at the top "
                          f"level, got {type(data).__name__}")
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def load_config(path: Union[str, Path]) -> SweepConfig:
    """Read and validate a YAML sweep config."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sweep config not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"sweep config {p} is not valid YAML: {exc}") from None
    return parse_config(data, str(p))


# ---------------------------------------------------------------------- deeper checks
def resolve_factory(spec: str) -> Any:
    """``module:attr`` -> the object (a custom agent factory). Modules in the current
    directory are found without ``PYTHONPATH=.``, as with ``python -m``."""
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    mod, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"agents: cannot import {spec!r}: {exc}") from None
    if not callable(obj):
        raise ConfigError(f"agents: {spec!r} is not callable")
    return obj


def check_agents(cfg: SweepConfig, custom: bool = True) -> None:
    """Build each scripted agent once (bad kwargs, bad import paths fail here); custom
    ``module:factory`` agents only with ``custom`` (building them runs their code)."""
    from corpsim.agents import make_agent

    for a in cfg.agents:
        assert isinstance(a, AgentSpec)
        if ":" in a.agent and not custom:
            continue
        try:
            if ":" in a.agent:
                resolve_factory(a.agent)(**a.kwargs)
            else:
                make_agent(a.agent, **a.kwargs)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"agents: cannot build {a.label!r}: {type(exc).__name__}: "
                              f"{exc}") from None


def _modes(cfg: SweepConfig) -> list[str]:
    modes = {cfg.mode}
    for e in cfg.expansions:
        modes.update(e.modes or ())
    return sorted(modes)


def check_llm(cfg: SweepConfig, environ: Optional[dict[str, str]] = None) -> None:
    """For LLM models and the judge: litellm is installed, the agent factory accepts the
    settings, and every provider's API key is in the environment
    (``litellm.validate_environment``; no network). Imports litellm unless every model
    takes the direct transport, whose keys are known without it."""
    specs: list[tuple[str, str, dict[str, Any], Optional[ModelSpec]]] = [
        (f"models[{m.label}]", m.model, m.settings, m) for m in cfg.models
    ]
    if cfg.monitor is not None:
        specs.append(("monitor", cfg.monitor.model, dict(cfg.monitor.model_extra or {}), None))
    if cfg.outcome_judge is not None:
        specs.append(("outcome_judge", cfg.outcome_judge.model,
                      dict(cfg.outcome_judge.model_extra or {}), None))
    npc_models = {npc_model_label(m): m for e in cfg.expansions for m in e.npc_model}
    for label, m in npc_models.items():
        model, kwargs = npc_model_kwargs(m)
        specs.append((f"npc_model[{label}]", model, kwargs, None))
    if not specs:
        return
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the cost map
    from corpsim.agents.llm import direct_keys

    env = dict(os.environ if environ is None else environ)
    missing: list[str] = []
    for where, model, settings, m in specs:
        if settings.get("mock_response") is not None or settings.get("mock_tool_calls"):
            continue  # litellm's offline mock needs no key
        needed = (direct_keys(model, **llm_settings(cfg, m)) if m is not None
                  else None)  # known without importing litellm (it takes seconds)
        if needed is None:
            try:
                import litellm
            except ImportError:
                raise ConfigError("LLM models need litellm: pip install 'corpsim[llm]'") from None
            try:
                res = litellm.validate_environment(model=model,
                                                   api_base=settings.get("api_base"))
            except Exception as exc:
                raise ConfigError(f"{where}: litellm does not know model {model!r}: "
                                  f"{exc}") from None
            needed = res.get("missing_keys") or []
        keys = [k for k in needed if not env.get(k)]
        if keys:
            missing.append(f"{where}: model {model!r} needs {', '.join(keys)} in the environment")
    if missing:
        raise ConfigError("missing API keys (set them in the environment; they are never "
                          "stored):\n  " + "\n  ".join(missing))
    if cfg.models:
        try:
            from corpsim.agents.llm import make_llm_agent
        except ImportError as exc:
            raise ConfigError(f"LLM agents are not available: {exc}") from None
        for m in cfg.models:
            for mode in _modes(cfg):
                try:
                    make_llm_agent(m.model, mode=mode, **llm_settings(cfg, m))
                except Exception as exc:
                    raise ConfigError(f"models[{m.label}]: cannot build the LLM agent: "
                                      f"{type(exc).__name__}: {exc}") from None


def llm_settings(cfg: SweepConfig, m: ModelSpec) -> dict[str, Any]:
    """Settings for ``make_llm_agent``: the model's own plus the sweep's call timeout and
    retries where the factory accepts them (and the model did not set them)."""
    settings = m.settings
    try:
        from corpsim.agents.llm import make_llm_agent

        params = inspect.signature(make_llm_agent).parameters
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    except Exception:  # pragma: no cover - checked in check_llm
        params, accepts_any = {}, False  # type: ignore[assignment]
    for key, value in (("timeout", cfg.timeouts.call), ("retries", cfg.retries.call)):
        if value is not None and key not in settings and (key in params or accepts_any):
            settings[key] = value
    settings.pop("mode", None)  # the cell's mode decides
    return settings


def judge_env_kwargs(cfg: SweepConfig) -> dict[str, Any]:
    """The env settings of ``monitor``: the LLM monitor of the ``monitor`` mitigation
    (``monitor_model``; ``ends_episode`` -> ``monitor_ends_episode``; other keys go to
    litellm as ``monitor_kwargs``)."""
    if cfg.monitor is None:
        return {}
    extra = dict(cfg.monitor.model_extra or {})
    out: dict[str, Any] = {"monitor_model": cfg.monitor.model}
    if "ends_episode" in extra:
        out["monitor_ends_episode"] = bool(extra.pop("ends_episode"))
    if extra:
        out["monitor_kwargs"] = extra
    return out


def check_env_settings(cfg: SweepConfig) -> None:
    """The monitor needs an env that takes one, and a cell with the monitor on."""
    if cfg.monitor is None:
        return
    from corpsim.env import CorpsimEnv

    if "monitor_model" not in inspect.signature(CorpsimEnv.__init__).parameters:
        raise ConfigError("monitor: this corpsim env has no LLM monitor setting; remove "
                          "'monitor'")
    if not any("monitor" in mset for e in cfg.expansions for mset in e.mitigations):
        raise ConfigError("monitor: the LLM runtime monitor is used only where the "
                          "'monitor' mitigation is on; add 'mitigations: [monitor]' (or "
                          "[[], [monitor]]) to an expansion, or remove 'monitor' (to judge "
                          "outcomes after each episode, use 'outcome_judge')")


def validate(cfg: SweepConfig, *, check_keys: bool = True, custom_agents: bool = True) -> None:
    """Every check that needs more than the config itself (imports agents, and custom
    agent factories unless ``custom_agents`` is False; imports litellm only when the
    sweep has LLM models, a monitor or an outcome judge)."""
    check_agents(cfg, custom=custom_agents)
    check_env_settings(cfg)
    if check_keys:
        check_llm(cfg)


# The sweep `corpsim demo` runs (configs/demo.yaml is the same, as a file to copy).
DEMO_CONFIG: dict[str, Any] = {
    "experiment_id": "demo",
    "description": "Reference agents over the canonical conditions and their controls",
    "agents": ["compliant", "self_preserving", "random"],
    "samples": 10,
    "seed": 0,
    "mode": "interactive",
    "expansions": [{
        "name": "canonical",
        "scenarios": ["blackmail", "leaking", "murder"],
        "goal_types": ["explicit", "none"],
        "goal_values": ["america"],
        "urgencies": ["replacement", "none"],
    }],
}
