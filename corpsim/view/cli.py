"""``corpsim view``: the results viewer (live on 127.0.0.1, or ``--export FILE.html``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err_console = Console(stderr=True)


def _fail(msg: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise typer.Exit(2)


def view(
    sweep_id: Optional[str] = typer.Argument(None, help="Sweep to open (default: list every sweep in the database)."),
    db: Optional[str] = typer.Option(None, "--db", envvar="CORPSIM_DB", help="Results database: SQLite path or SQLAlchemy URL (default: results/<sweep>.db)."),
    port: int = typer.Option(8765, "--port", help="Port to serve on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; the default keeps the viewer on this machine."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write every view to one self-contained HTML file instead of serving."),
    episodes_per_cell: Optional[int] = typer.Option(None, "--episodes-per-cell", min=1, help="With --export: keep only the first N episodes of each cell."),
) -> None:
    """Browse sweep results: rates with Wilson intervals, episodes, timelines; label harms."""
    try:
        from .app import serve
        from .export import export_html
    except ImportError as exc:  # starlette / uvicorn are the `view` extra
        _fail(f"the viewer needs {exc.name}: pip install 'corpsim[view]'")
        return
    from ..sweep.cli import open_store
    from ..sweep.store import redact_url

    st, db, sweeps = open_store(sweep_id, db)
    known = [s["id"] for s in sweeps]
    if sweep_id is not None and sweep_id not in known:
        _fail(f"no sweep {sweep_id!r} in {redact_url(st.url)}; "
              f"it holds: {', '.join(known) or 'no sweeps'}")
    if export is not None:
        n = export_html(st, export, sweep_id, episodes_per_cell=episodes_per_cell)
        print(f"wrote {export}: {n['sweeps']} sweep(s), {n['cells']} cells, "
              f"{n['episodes']} episodes ({export.stat().st_size / 1e6:.1f} MB)")
        return
    from urllib.parse import urlencode

    if port == 0:  # pick a free port now so the printed address is the real one
        import socket

        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    path = "/sweep?" + urlencode({"id": sweep_id}) if sweep_id else "/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"[yellow]warning:[/] serving on {host}: the viewer has no login, so "
                          "anyone who can reach this address can read these results and "
                          "record labels.", highlight=False)
    print(f"corpsim view: http://{host}:{port}{path}  (Ctrl-C to stop)", flush=True)
    serve(st, host=host, port=port)


def register(app: typer.Typer) -> None:
    """Add ``view`` to the ``corpsim`` app."""
    app.command()(view)
