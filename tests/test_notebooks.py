"""Every notebook in notebooks/ runs top to bottom without error, shows the figures it
promises (cells tagged ``figure:NAME`` must have a real PNG among their outputs, i.e.
the inline backend is on) and renders episodes as HTML (cells tagged ``episode-html``)."""

import base64
import struct
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
FIGURES = {"01_explore_episodes.ipynb": {"harm-heatmap"},
           "02_sweep_results.ipynb": {"rate-intervals", "rate-heatmap"}}


def png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", raw[16:24])  # IHDR width, height


def tagged(nb, prefix):
    return {t[len(prefix):]: c for c in nb.cells if c.cell_type == "code"
            for t in c.metadata.get("tags", []) if t.startswith(prefix)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_shows_its_figures(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # notebooks may write files (results DBs, exports)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'matplotlib.use("Agg")' not in src and "%matplotlib inline" in src
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]

    figures = tagged(nb, "figure:")
    assert set(figures) == FIGURES[path.name]
    for name, cell in figures.items():
        pngs = [o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == 1, f"figure {name!r} was not shown inline"
        w, h = png_size(pngs[0])
        assert w >= 500 and h >= 200, f"figure {name!r} is {w}x{h}"

    ep_cell = next(c for c in nb.cells if "episode-html" in c.metadata.get("tags", []))
    html = next(o["data"]["text/html"] for o in ep_cell.outputs if "text/html" in o.get("data", {}))
    assert 'class="corpsim-episode"' in html and '<mark class="evidence">' in html
    assert "realised blackmail" in html


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} == set(FIGURES)
