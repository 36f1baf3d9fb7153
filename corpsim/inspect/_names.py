"""Registry names that are always ``corpsim/<name>``.

Inspect namespaces an object by the installed package it comes from, but it cannot tell
an editable install run from the source tree (the tree's ``corpsim.egg-info`` shadows the
install record) and would register a bare ``blackmail``; then ``inspect eval
corpsim/blackmail`` finds nothing.
"""

from __future__ import annotations


def corpsim_name(name: str) -> str:
    try:
        from inspect_ai._util.registry import registry_name
    except ImportError:  # a future Inspect without it namespaces by itself
        return name
    return name if registry_name(corpsim_name, name).startswith("corpsim/") else f"corpsim/{name}"
