"""Seeing results: the ``corpsim view`` web app and its single-file export, and the
HTML/DataFrame views of one episode that Jupyter shows.

    from corpsim.view import create_app, export_html, load_episode
    export_html("results/demo.db", "demo.html", "demo")

The web parts need the ``view`` extra (Starlette, uvicorn, python-multipart); the
episode views need only Jinja2 and pandas.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EpisodeData", "create_app", "export_html", "from_runner", "load_episode"]


def __getattr__(name: str) -> Any:
    if name in ("EpisodeData", "from_runner", "load_episode"):
        from . import episode

        return getattr(episode, name)
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "export_html":
        from .export import export_html

        return export_html
    raise AttributeError(f"module 'corpsim.view' has no attribute {name!r}")
