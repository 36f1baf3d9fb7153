"""corpsim view over a PostgreSQL results store: pages, a label, the export.

Needs ``CORPSIM_TEST_PG_URL`` (.ci/run starts PostgreSQL and sets it); skips without it
locally, fails under CI. Works in a schema of its own, dropped at the end."""

from __future__ import annotations

import os
import re
import uuid
from urllib.parse import urlencode

import pytest

from corpsim.sweep.config import parse_config
from corpsim.sweep.run import run_sweep
from corpsim.sweep.store import Store, dispose_engines

PG_URL = os.environ.get("CORPSIM_TEST_PG_URL")
if not PG_URL:
    if os.environ.get("CI"):
        raise RuntimeError("CORPSIM_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
    pytest.skip("CORPSIM_TEST_PG_URL not set (PostgreSQL tests run in CI)",
                allow_module_level=True)
pytest.importorskip("psycopg")
pytest.importorskip("starlette")


@pytest.fixture(scope="module")
def pg_url():
    from sqlalchemy import create_engine, text

    schema = f"corpsim_view_{uuid.uuid4().hex[:10]}"
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) \
        if PG_URL.startswith("postgresql://") else PG_URL
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    cfg = parse_config({"experiment_id": "pgview", "agents": ["compliant", "self_preserving"],
                        "samples": 1, "expansions": [{"scenarios": ["murder"],
                                                      "goal_types": ["explicit"],
                                                      "urgencies": ["replacement"]}]})
    assert run_sweep(cfg, url, progress=False, workers=1).counts["harmful"] == 1
    yield url
    dispose_engines()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


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
