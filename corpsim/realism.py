"""How staged a world looks: the realism preset, the inbox size and the tells.

:class:`WorldOptions` is what world building needs besides the condition: how many
messages the interactive inbox holds (:mod:`corpsim.inbox` fills it) and which tells
(features that make a scenario look staged, listed in ``worlds/common/realism.yaml``)
are removed. :func:`resolve` turns the env's ``realism=``, ``inbox_size=`` and
``tells=`` into one hashable value; :func:`apply_tells` rewrites a world's parsed YAML
with the less staged variants from ``worlds/<world>/tells.yaml``.

``WorldOptions()`` (realism="study", no inbox_size, no tells) is the study's world,
byte-identical to worlds built without options.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

REALISMS: tuple[str, ...] = ("study", "realistic")
MAX_INBOX_SIZE = 2000


class RealismError(ValueError):
    """Bad realism/inbox_size/tells argument: the message names the valid values."""


@functools.lru_cache(maxsize=None)
def _data(relpath: str) -> Any:
    path = resources.files("corpsim.worlds").joinpath(relpath)
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def tell_names() -> tuple[str, ...]:
    """Every tell, in the order ``worlds/common/realism.yaml`` lists them."""
    return tuple(_data("common/realism.yaml")["tells"])


def tell_descriptions() -> dict[str, str]:
    return dict(_data("common/realism.yaml")["tells"])


@dataclass(frozen=True)
class WorldOptions:
    """``inbox_size`` 0 keeps the scenario's own mail only; ``removed`` names the tells
    replaced by their less staged variant."""

    inbox_size: int = 0
    removed: frozenset[str] = frozenset()

    @property
    def is_study(self) -> bool:
        return self.inbox_size == 0 and not self.removed

    def has(self, tell: str) -> bool:
        """True while ``tell`` is present (the study's staging)."""
        return tell not in self.removed

    def to_dict(self) -> dict[str, Any]:
        return {"inbox_size": self.inbox_size,
                "tells": {t: t not in self.removed for t in tell_names()}}


def resolve(realism: str = "study", inbox_size: int | None = None,
            tells: dict[str, bool] | None = None) -> WorldOptions:
    """Combine a preset with explicit settings (which win).

    Args:
        realism: "study" (the study's worlds) or "realistic" (a working inbox, every tell
            removed); see ``worlds/common/realism.yaml``.
        inbox_size: messages in the interactive inbox (scenario mail plus generated
            company mail); 0 adds none. None takes the preset's.
        tells: ``{tell: present}``; False removes that tell, True keeps it.
    """
    if realism not in REALISMS:
        raise RealismError(f"invalid realism {realism!r}; valid values: {', '.join(REALISMS)}")
    preset = _data("common/realism.yaml")["presets"][realism]
    size = preset["inbox_size"] if inbox_size is None else inbox_size
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_INBOX_SIZE:
        raise RealismError(f"inbox_size must be an integer from 0 to {MAX_INBOX_SIZE}, "
                           f"got {inbox_size!r}")
    names = tell_names()
    removed = set(names) if preset["tells"] == "removed" else set()
    if tells is not None:
        if not isinstance(tells, dict):
            raise RealismError(f"tells must be a dict of tell name -> bool, got "
                               f"{type(tells).__name__}; tells: {', '.join(names)}")
        for name, present in tells.items():
            if name not in names:
                raise RealismError(f"unknown tell {name!r}; valid tells: {', '.join(names)}")
            if not isinstance(present, bool):
                raise RealismError(f"tells[{name!r}] must be true or false, got {present!r}")
            (removed.discard if present else removed.add)(name)
    return WorldOptions(inbox_size=size, removed=frozenset(removed))


def _replace_all(obj: Any, old: str, new: str) -> int:
    """Substitute in every string of a mail/alert/document dict; count the hits."""
    hits = 0
    for k in ("subject", "body", "title", "content"):
        if isinstance(obj.get(k), str) and old in obj[k]:
            hits += obj[k].count(old)
            obj[k] = obj[k].replace(old, new)
    return hits


def apply_tells(world: str, scenario: str, base: dict[str, Any], scen: dict[str, Any],
                removed: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of a world's parsed ``world.yaml`` and scenario file with the removed tells'
    patches applied. A patch whose text is not found raises: a switch never silently
    does nothing."""
    patches = _data(f"{world}/tells.yaml")
    base, scen = copy.deepcopy(base), copy.deepcopy(scen)
    mails = {m["key"]: m for m in (base.get("emails") or []) + (scen.get("emails") or [])}
    docs = {**(base.get("documents") or {}), **(scen.get("documents") or {})}
    targets = list(mails.values()) + list(scen.get("alerts") or []) + list(docs.values())
    for tell in sorted(removed):
        patch = patches.get(tell)
        if not patch or scenario not in patch.get("scenarios", [scenario]):
            continue
        where = f"worlds/{world}/tells.yaml {tell}"
        for old, new in patch.get("replace") or []:
            if not sum(_replace_all(t, old, new) for t in targets):
                raise RealismError(f"{where}: text not found in {scenario}: {old[:60]!r}")
        for key, change in (patch.get("emails") or {}).items():
            if key not in mails:
                raise RealismError(f"{where}: unknown email key {key!r}")
            mails[key].update(change)
        for key, change in (patch.get("documents") or {}).items():
            if key not in docs:
                raise RealismError(f"{where}: unknown document key {key!r}")
            docs[key]["content"] += change.get("append", "")
    # the patched documents are the copies inside base/scen (dict values were shared)
    return base, scen


def plot_emails(spec: Any) -> list[Any]:
    """The scenario's own mail in a built world (its scenario file's keys): the plot,
    as opposed to the world's shared everyday mail and generated filler."""
    from .worlddef import _load_yaml

    keys = {m["key"] for m in _load_yaml(f"{spec.world}/{spec.condition.scenario}.yaml")["emails"]}
    return [e for e in spec.emails if e.key in keys]
