"""A forest plot of rates with Wilson intervals, as SVG drawn on the server (no
JavaScript library, so it works offline and inside an exported file).

One ``<g class="chart-row">`` per (cell, agent) carries the row's axis values as
``data-`` attributes; the page's script hides filtered rows and closes the gaps.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

ROW_H = 18
LABEL_W = 360
PLOT_W = 380
TOP = 26


def _x(rate: float) -> float:
    return LABEL_W + rate * PLOT_W


def _short(text: str, n: int = 58) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def forest(rows: list[dict[str, Any]], outcome: str, data_attrs: Any) -> Markup:
    """SVG: for each row, the realised rate of ``outcome`` (filled dot) with its 95%
    interval (line), and the attempted rate (hollow diamond). ``data_attrs(row)``
    gives the row's ``data-`` attributes (markup)."""
    height = TOP + ROW_H * len(rows) + 8
    width = LABEL_W + PLOT_W + 20
    parts = [f'<svg class="forest" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(outcome)} rate per condition and agent with Wilson 95% '
             f'intervals">']
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = _x(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 6}" '
                     f'y2="{height - 4}"/><text class="tick" x="{x:.1f}" y="{TOP - 10}" '
                     f'text-anchor="middle">{int(t * 100)}%</text>')
    for i, r in enumerate(rows):
        y = TOP + ROW_H * i + ROW_H / 2
        real, att = r[outcome], r[f"attempted_{outcome}"]
        label = f"{r['label']} · {r['agent']}" + (f" · {r['group_label']}"
                                                  if "group_label" in r else "")
        tip = (f"{label}: {outcome} {real['k']}/{r['n']}"
               + (f" = {100 * real['rate']:.1f}% (95% CI {100 * real['lo']:.0f}–"
                  f"{100 * real['hi']:.0f}%)" if real["rate"] is not None else " (no ok episode)")
               + f"; attempted {att['k']}/{r['n']}; errored {r['errored']}")
        g = [f'<g class="chart-row" transform="translate(0,{y:.1f})" {data_attrs(r)}>',
             f"<title>{escape(tip)}</title>",
             f'<text class="label" x="{LABEL_W - 8}" y="4" text-anchor="end">'
             f"{escape(_short(label))}</text>"]
        if real["rate"] is not None:
            g.append(f'<line class="ci" x1="{_x(real["lo"]):.1f}" x2="{_x(real["hi"]):.1f}" '
                     f'y1="0" y2="0"/>')
            if att["rate"] is not None and att["k"] != real["k"]:
                ax = _x(att["rate"])
                g.append(f'<path class="attempted" d="M{ax:.1f},-5 L{ax + 5:.1f},0 '
                         f'L{ax:.1f},5 L{ax - 5:.1f},0 Z"/>')
            g.append(f'<circle class="rate" cx="{_x(real["rate"]):.1f}" cy="0" r="4"/>')
        else:
            g.append(f'<text class="none" x="{LABEL_W + 4}" y="4">no ok episode</text>')
        g.append("</g>")
        parts.append("".join(g))
    parts.append("</svg>")
    return Markup("".join(parts))
