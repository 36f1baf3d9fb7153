"""Plain tables (a header and rows of strings) rendered for a terminal of any width from
80 columns up, or as Markdown, CSV, JSON or LaTeX.

The command-line reports build a :class:`Grid` once and print it in the format asked
for (``corpsim report --format``). On a terminal, long identifiers (condition ids, agent
labels) are broken after ``_``, ``-``, ``|`` or ``+`` instead of being cut with "…", so
every cell stays whole at 80 columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

FORMATS = ("table", "markdown", "csv", "json", "latex")
_BREAK_AFTER = re.compile(r"(?<=[_\-|+/,])")


def fold_id(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` characters, broken only after ``_ - | + /
    ,`` (a part longer than ``width`` stays whole; the table folds it)."""
    lines: list[str] = []
    line = ""
    for part in _BREAK_AFTER.split(text):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = part
        else:
            line += part
    if line:
        lines.append(line)
    return "\n".join(lines)


@dataclass
class Column:
    header: str
    justify: str = "left"  # left | right
    fold: int = 0  # break values after _ - | + at this width on a terminal (0: never)
    group: bool = False  # on a terminal, a value repeated from the row above is blank


@dataclass
class Grid:
    """A table of display strings with optional raw values per row (for csv/json)."""

    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # raw values, same order
    sections: list[int] = field(default_factory=list)  # row indexes that start a group
    title: str = ""

    def add(self, cells: Sequence[str], record: Optional[dict[str, Any]] = None,
            new_section: bool = False) -> None:
        if new_section and self.rows:
            self.sections.append(len(self.rows))
        self.rows.append([str(c) for c in cells])
        if record is not None:
            self.records.append(record)


def _plain(text: str) -> str:
    """Rich markup removed (cells may colour a value: ``[red]12%[/]``)."""
    from rich.text import Text

    return Text.from_markup(text).plain


WIDE = 120  # from this console width up, identifiers are not broken


def to_rich(grid: Grid, width: int = 80) -> Any:
    """A rich Table whose cells wrap instead of being cut (identifiers broken at their
    separators below :data:`WIDE` columns)."""
    from rich import box
    from rich.table import Table

    table = Table(title=grid.title or None, title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 0))
    columns = list(grid.columns)
    rows = [[("" if c.group and i and grid.rows[i - 1][j] == v else
              fold_id(v, c.fold) if c.fold and width < WIDE else v)
             for j, (v, c) in enumerate(zip(row, columns))] for i, row in enumerate(grid.rows)]
    mins = _min_widths(columns, rows)
    lead = 0
    while lead < len(columns) and columns[lead].fold:
        lead += 1
    if sum(mins) + len(mins) - 1 > width and lead > 1:
        # too narrow: the leading identifiers (condition, agent) stack in one column
        columns = [Column(" / ".join(c.header for c in columns[:lead])), *columns[lead:]]
        rows = [["\n".join(v for v in r[:lead] if v), *r[lead:]] for r in rows]
        mins = _min_widths(columns, rows)
    for c, m in zip(columns, mins):
        table.add_column(c.header, justify=c.justify,  # type: ignore[arg-type]
                         overflow="fold", no_wrap=False, min_width=m)
    for i, row in enumerate(rows):
        if i in grid.sections:
            table.add_section()
        table.add_row(*row)
    return table


def _min_widths(columns: list[Column], rows: list[list[str]]) -> list[int]:
    """Per column its longest word (header included): rich then wraps, never cuts."""
    return [max((len(w) for w in [*c.header.split(),
                                  *(w for r in rows for w in _plain(r[i]).split())]),
                default=1) for i, c in enumerate(columns)]


def print_grid(grid: Grid, console: Any, fmt: str = "table") -> None:
    """Print ``grid`` on ``console`` (a rich Console) in one of :data:`FORMATS`."""
    if fmt == "table":
        console.print(to_rich(grid, console.width))
        return
    text = render(grid, fmt)
    console.print(text, markup=False, highlight=False, soft_wrap=True, end="")


def render(grid: Grid, fmt: str) -> str:
    """``grid`` as Markdown, CSV, JSON (the raw records when there are any) or LaTeX."""
    if fmt not in FORMATS or fmt == "table":
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    headers = [c.header for c in grid.columns]
    rows = [[_plain(v) for v in r] for r in grid.rows]
    records = [{k: _clean(v) for k, v in r.items()} for r in grid.records]
    if fmt == "json":
        data = records or [dict(zip(headers, r)) for r in rows]
        return json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        if records:
            w = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(records)
        else:
            w2 = csv.writer(buf, lineterminator="\n")
            w2.writerow(headers)
            w2.writerows(rows)
        return buf.getvalue()
    if fmt == "markdown":
        def md(v: str) -> str:
            return v.replace("|", "\\|").replace("\n", " ")
        out = ([f"**{md(grid.title)}**", ""] if grid.title else [])
        out.append("| " + " | ".join(md(h) for h in headers) + " |")
        out.append("|" + "|".join("---:" if c.justify == "right" else "---"
                                  for c in grid.columns) + "|")
        out += ["| " + " | ".join(md(v) for v in r) + " |" for r in rows]
        return "\n".join(out) + "\n"
    # LaTeX (booktabs)
    spec = "".join("r" if c.justify == "right" else "l" for c in grid.columns)
    out = [f"% {grid.title}"] if grid.title else []
    out += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
            " & ".join(_tex(h) for h in headers) + " \\\\", "\\midrule"]
    for i, r in enumerate(rows):
        if i in grid.sections:
            out.append("\\midrule")
        out.append(" & ".join(_tex(v) for v in r) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}", "–": "--"}


def _tex(v: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in v.replace("\n", " "))


def _clean(x: Any) -> Any:
    """NaN (no episodes) as null; numpy scalars as Python numbers."""
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and x != x:
        return None
    return x
