"""Rendering the viewer's pages with Jinja2. The live server and the single-file export
render the same templates; only :class:`Links` differs (URLs vs. in-page anchors)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any, Optional
from urllib.parse import urlencode

from markupsafe import Markup, escape

from ..sweep.store import LABEL_HARMS, OUTCOMES, Store
from . import data
from .chart import forest
from .episode import EpisodeData, load_episode


class Links:
    """URLs of the live viewer."""

    live = True

    def sweeps(self) -> str:
        return "/"

    def sweep(self, sweep_id: str, by: Optional[str] = None) -> str:
        return "/sweep?" + urlencode({"id": sweep_id, **({"by": by} if by else {})})

    def cell(self, sweep_id: str, cell: str, agent: str) -> str:
        return "/cell?" + urlencode({"sweep": sweep_id, "cell": cell, "agent": agent})

    def episode(self, sweep_id: str, key: str) -> str:
        return "/episode?" + urlencode({"sweep": sweep_id, "key": key})


def anchor(*parts: str) -> str:
    """A stable HTML id for a page of the export."""
    return "p-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:12]


class ExportLinks(Links):
    """In-page anchors of the single-file export."""

    live = False

    def sweeps(self) -> str:
        return "#sweeps"

    def sweep(self, sweep_id: str, by: Optional[str] = None) -> str:
        return "#" + (anchor("sweep", sweep_id, by) if by else anchor("sweep", sweep_id))

    def cell(self, sweep_id: str, cell: str, agent: str) -> str:
        return "#" + anchor("cell", sweep_id, cell, agent)

    def episode(self, sweep_id: str, key: str) -> str:
        return "#" + anchor("episode", sweep_id, key)


@lru_cache(maxsize=1)
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("corpsim.view", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    env.filters["ci"] = (lambda v: "" if v["lo"] is None
                         else f"{100 * v['lo']:.0f}–{100 * v['hi']:.0f}%")
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=1, default=str,
                                                        ensure_ascii=False)
    env.globals.update(OUTCOMES=OUTCOMES, LABEL_HARMS=LABEL_HARMS, data_attrs=data_attrs)
    return env


def static_text(name: str) -> str:
    return resources.files("corpsim.view").joinpath("static", name).read_text("utf-8")


def data_attrs(row: dict[str, Any]) -> Markup:
    """A rate row's filter attributes (``data-scenario="blackmail" ...``)."""
    attrs = [f'data-{a.replace("_", "-")}="{escape(row[a])}"' for a in data.AXES]
    if "group" in row:  # grouped by a consequence or a branch source
        attrs.append(f'data-group="{escape(row["group"])}"')
    attrs.append(f'data-statuses="{escape(row["statuses"])}"')
    return Markup(" ".join(attrs))


def render(template: str, links: Links, layout: str = "base.html.j2", **ctx: Any) -> str:
    return environment().get_template(template).render(links=links, layout=layout, **ctx)


# ---------------------------------------------------------------- page contexts
def sweeps_context(store: Store) -> dict[str, Any]:
    return {"sweeps": data.sweep_list(store), "title": "Sweeps"}


def sweep_context(store: Store, sweep_id: str, by: Optional[str] = None) -> dict[str, Any]:
    """The sweep page; ``by``: split each cell's rates by a consequence (or a branched
    sweep's source or step), with a filter on its value."""
    sweep = store.get_sweep(sweep_id)
    if sweep is None:
        raise KeyError(f"no sweep {sweep_id!r} in this store")
    rows = data.rate_rows(store, sweep_id, by or None)
    charts = {o: forest(rows, o, data_attrs) for o in OUTCOMES}
    return {"sweep": sweep, "rows": rows, "axes": data.axis_choices(rows), "charts": charts,
            "counts": store.counts(sweep_id), "by": by or None,
            "groupings": data.groupings(store, sweep_id),
            "title": f"Sweep {sweep_id}" + (f" by {by}" if by else "")}


def cell_context(store: Store, sweep_id: str, cell: str, agent: str) -> dict[str, Any]:
    eps = data.cell_episodes(store, sweep_id, cell, agent)
    if not eps:
        raise KeyError(f"no episodes for {cell!r} / {agent!r} in sweep {sweep_id!r}")
    return {"sweep_id": sweep_id, "cell": cell, "agent": agent, "episodes": eps,
            "title": f"{cell.replace('|interactive', '')} · {agent}"}


def episode_context(store: Store, sweep_id: str, key: str,
                    message: Optional[str] = None) -> dict[str, Any]:
    ep = load_episode(store, sweep_id, key)
    return {"ep": ep, "title": ep.title, "message": message}


def render_notebook_episode(ep: EpisodeData) -> str:
    """The compact timeline Jupyter shows for an episode (styles inline, no script)."""
    return environment().get_template("notebook_episode.html.j2").render(
        ep=ep, css=static_text("notebook.css"))
