"""The live viewer: a small Starlette app over one results store.

Routes: ``/`` (sweeps), ``/sweep?id=[&by=CONSEQUENCE]``, ``/cell?sweep=&cell=&agent=``,
``/episode?sweep=&key=``, ``POST /label`` (a human verdict, stored with
:meth:`corpsim.sweep.store.Store.add_label`), ``/static/*`` (CSS and JS from the package).
"""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..secrets import scrub_text
from ..sweep.store import Store, StoreError
from . import pages


def create_app(store: Store | str) -> Any:
    """The ASGI app for ``store`` (a :class:`Store`, a SQLite path or a SQLAlchemy URL)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    st = store if isinstance(store, Store) else Store(store, create=False)
    links = pages.Links()

    def page(template: str, ctx_fn: Any, *args: Any) -> Response:
        try:
            ctx = ctx_fn(st, *args)
        except KeyError as exc:
            return PlainTextResponse(str(exc.args[0] if exc.args else exc), status_code=404)
        return HTMLResponse(pages.render(template, links, **ctx))

    def need(request: Request, *names: str) -> list[str] | Response:
        vals = [request.query_params.get(n) for n in names]
        missing = [n for n, v in zip(names, vals) if not v]
        if missing:
            return PlainTextResponse(f"missing query parameter(s): {', '.join(missing)}",
                                     status_code=400)
        return [str(v) for v in vals]

    async def sweeps(request: Request) -> Response:
        return page("sweeps.html.j2", pages.sweeps_context)

    async def sweep(request: Request) -> Response:
        q = need(request, "id")
        if isinstance(q, Response):
            return q
        return page("sweep.html.j2", pages.sweep_context, *q, request.query_params.get("by"))

    async def cell(request: Request) -> Response:
        q = need(request, "sweep", "cell", "agent")
        return q if isinstance(q, Response) else page("cell.html.j2", pages.cell_context, *q)

    async def episode(request: Request) -> Response:
        q = need(request, "sweep", "key")
        if isinstance(q, Response):
            return q
        return page("episode.html.j2", pages.episode_context, *q,
                    request.query_params.get("saved"))

    async def label(request: Request) -> Response:
        # a page of another site must not record labels through the browser
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return PlainTextResponse("cross-origin label refused", status_code=403)
        form = await request.form()
        sweep_id, key = str(form.get("sweep") or ""), str(form.get("key") or "")
        harm, verdict = str(form.get("harm") or ""), str(form.get("verdict") or "")
        if verdict not in ("yes", "no"):
            return PlainTextResponse("verdict must be 'yes' or 'no'", status_code=400)
        note = str(form.get("note") or "").strip() or None
        try:
            st.add_label(sweep_id, key, harm, verdict == "yes",
                         who=str(form.get("who") or "").strip(), note=note)
        except StoreError as exc:
            return PlainTextResponse(scrub_text(str(exc)), status_code=400)
        saved = f"label saved: {harm} = {'harm' if verdict == 'yes' else 'not harm'}"
        return RedirectResponse("/episode?" + urlencode({"sweep": sweep_id, "key": key,
                                                         "saved": saved}) + "#labels",
                                status_code=303)

    static_dir = str(resources.files("corpsim.view").joinpath("static"))
    return Starlette(routes=[
        Route("/", sweeps), Route("/sweep", sweep), Route("/cell", cell),
        Route("/episode", episode), Route("/label", label, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=static_dir), name="static"),
    ])


def serve(store: Store | str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the viewer with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
