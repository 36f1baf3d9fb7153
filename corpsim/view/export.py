"""``corpsim view --export FILE.html``: every page of the viewer in one self-contained
file (CSS, script and SVG charts inline; links become in-page anchors), to share or to
attach to a paper's supplement. Labels are shown as stored, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from markupsafe import Markup

from ..sweep.store import Store
from . import pages


def export_html(store: Store | str, path: str | Path, sweep_id: Optional[str] = None,
                episodes_per_cell: Optional[int] = None) -> dict[str, int]:
    """Write the export of ``sweep_id`` (default: every sweep in the store) to ``path``;
    ``episodes_per_cell`` keeps only the first N episodes of each cell (by sample) so a
    large sweep stays a file you can mail. Returns how many sweeps, cells and episodes
    it holds."""
    st = store if isinstance(store, Store) else Store(store, create=False)
    links = pages.ExportLinks()
    frag = "fragment.html.j2"
    sweeps = pages.sweeps_context(st)
    if sweep_id is not None:
        if st.get_sweep(sweep_id) is None:
            raise KeyError(f"no sweep {sweep_id!r} in this store")
        sweeps["sweeps"] = [s for s in sweeps["sweeps"] if s["id"] == sweep_id]
    sections = [("sweeps", pages.render("sweeps.html.j2", links, frag, **sweeps))]
    n_cells = n_eps = 0
    for s in sweeps["sweeps"]:
        sid = s["id"]
        ctx = pages.sweep_context(st, sid)
        sections.append((pages.anchor("sweep", sid),
                         pages.render("sweep.html.j2", links, frag, **ctx)))
        for by in ctx["groupings"]:  # the rates split by each consequence that varies
            sections.append((pages.anchor("sweep", sid, by), pages.render(
                "sweep.html.j2", links, frag, **pages.sweep_context(st, sid, by))))
        for r in ctx["rows"]:
            cctx = pages.cell_context(st, sid, r["cell"], r["agent"])
            sections.append((pages.anchor("cell", sid, r["cell"], r["agent"]),
                             pages.render("cell.html.j2", links, frag, **cctx)))
            n_cells += 1
            for e in cctx["episodes"][:episodes_per_cell]:
                ectx = pages.episode_context(st, sid, e["key"])
                sections.append((pages.anchor("episode", sid, e["key"]),
                                 pages.render("episode.html.j2", links, frag, **ectx)))
                n_eps += 1
    title = f"corpsim results: {sweep_id}" if sweep_id else "corpsim results"
    html = pages.environment().get_template("export.html.j2").render(
        title=title, css=Markup(pages.static_text("view.css")),
        js=Markup(pages.static_text("view.js").replace("</", "<\\/")),
        sections=[(sid, Markup(body)) for sid, body in sections])
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(html, encoding="utf-8")
    return {"sweeps": len(sweeps["sweeps"]), "cells": n_cells, "episodes": n_eps}


__all__ = ["export_html"]
