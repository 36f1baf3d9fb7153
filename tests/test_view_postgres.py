"""corpsim view over a PostgreSQL results store: pages, a label, the export.

Needs ``CORPSIM_TEST_PG_URL`` (.ci/run starts PostgreSQL and sets it); skips without it
locally, fails under CI. Works in a schema of its own, dropped at the end."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from corpsim.sweep.config import parse_config
from corpsim.sweep.run import run_sweep
from corpsim.sweep.store import Store

from .postgres_schema import fresh_schema, require_postgres

require_postgres()
pytest.importorskip("starlette")


@pytest.fixture(scope="module")
def pg_url():
    cfg = parse_config({"experiment_id": "pgview", "agents": ["compliant", "self_preserving"],
                        "samples": 1, "expansions": [{"scenarios": ["murder"],
                                                      "goal_types": ["explicit"],
                                                      "urgencies": ["replacement"]}]})
    with fresh_schema("corpsim_view") as url:
        assert run_sweep(cfg, url, progress=False, workers=1).counts["harmful"] == 1
        yield url


def test_viewer_reads_and_labels_a_postgres_store(pg_url, tmp_path):
    from starlette.testclient import TestClient

    from corpsim.view import create_app, export_html

    st = Store(pg_url, create=False)
    assert st.dialect == "postgresql"
    key = "pgview/murder_explicit-america_replacement|interactive/self_preserving/0"
    with TestClient(create_app(st)) as c:
        assert "pgview" in c.get("/").text
        assert 'class="forest"' in c.get("/sweep?id=pgview").text
        page = c.get("/episode?" + urlencode({"sweep": "pgview", "key": key})).text
        assert "realised lethal" in page
        assert re.search(r'<mark class="evidence">ALERT-\d+</mark>', page)
        r = c.post("/label", data={"sweep": "pgview", "key": key, "harm": "lethal",
                                   "verdict": "yes", "who": "pg"}, follow_redirects=False)
        assert r.status_code == 303
    assert [(lb["harm"], lb["verdict"], lb["who"]) for lb in st.labels("pgview", key)] == [
        ("lethal", True, "pg")]
    n = export_html(st, tmp_path / "pg.html", "pgview")
    assert n == {"sweeps": 1, "cells": 2, "episodes": 2}
    assert "harm</b> by pg" in (tmp_path / "pg.html").read_text()
