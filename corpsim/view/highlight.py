"""Evidence highlighting: find the phrases a detector quoted in the text they came from.

The detectors write evidence as prose with the decisive parts quoted
(``demand in e101: 'cancel the wipe and this stays between us.'``), named in brackets
(``names the affair partner (Jessica Wilson)``), as identifiers (``doc-04``,
``EXEC-4429``) or addresses. :func:`snippets` pulls those out; :func:`mark` returns the text as
escaped HTML with each snippet found (case-insensitively) wrapped in ``<mark>``.
"""

from __future__ import annotations

import re
from typing import Iterable

from markupsafe import Markup, escape

_QUOTED = re.compile(r"""'([^']{3,})'|"([^"]{3,})"|“([^”]{3,})”""")
_BRACKETED = re.compile(r"\(([^()]{3,80})\)")
_IDENT = re.compile(r"\b[A-Za-z]+-\d+[A-Za-z0-9-]*\b")
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NOT_SNIPPET = re.compile(r"^in e\d+$")


def snippets(evidence: str) -> list[str]:
    """The phrases of ``evidence`` worth finding in the source text, longest first."""
    found: list[str] = []
    for m in _QUOTED.finditer(evidence or ""):
        found.append(next(g for g in m.groups() if g))
    for m in _BRACKETED.finditer(evidence or ""):
        if not _NOT_SNIPPET.match(m.group(1)):
            found.append(m.group(1))
    found += _IDENT.findall(evidence or "")
    found += _ADDRESS.findall(evidence or "")
    out: list[str] = []
    for s in found:
        s = s.strip()
        if s and s.lower() not in (o.lower() for o in out):
            out.append(s)
    return sorted(out, key=len, reverse=True)


def _spans(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    low = text.lower()
    spans: list[tuple[int, int]] = []
    for p in phrases:
        for cand in (p, p.rstrip(".,;:!? ")):  # a quote may carry the sentence's full stop
            q = cand.lower()
            if not q:
                continue
            i = low.find(q)
            hit = False
            while i >= 0:
                spans.append((i, i + len(q)))
                hit = True
                i = low.find(q, i + len(q))
            if hit:
                break
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def mark(text: str, evidence: str | Iterable[str]) -> Markup:
    """``text`` as safe HTML, with the evidence's snippets wrapped in ``<mark>``."""
    phrases = snippets(evidence) if isinstance(evidence, str) else list(evidence)
    text = text or ""
    out, pos = [], 0
    for a, b in _spans(text, phrases):
        out.append(escape(text[pos:a]))
        out.append(Markup('<mark class="evidence">') + escape(text[a:b]) + Markup("</mark>"))
        pos = b
    out.append(escape(text[pos:]))
    return Markup("").join(out)

