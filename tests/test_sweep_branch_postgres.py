"""A branched sweep whose sources and continuations share one PostgreSQL database.

Needs a real server: ``CORPSIM_TEST_PG_URL`` (``.ci/run`` starts one); without it the
module skips locally and fails under CI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from corpsim.sweep.config import parse_config
from corpsim.sweep.run import run_sweep
from corpsim.sweep.store import EP, ST, Store

from .postgres_schema import fresh_schema, require_postgres

require_postgres()


@pytest.fixture(scope="module")
def pg_url():
    with fresh_schema("corpsim_branch") as url:
        yield url


def _steps(store: Store, key: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(ST.c.step, ST.c.action, ST.c.observation, ST.c.events, ST.c.clock)
            .where(ST.c.episode_key == key).order_by(ST.c.step))]


def test_branch_from_the_same_postgres_database(pg_url):
    src = parse_config({"experiment_id": "pg_src", "samples": 2,
                        "agents": ["self_preserving", "random"],
                        "expansions": [{"conditions": ["blackmail_explicit-america_replacement"]}]})
    assert run_sweep(src, pg_url, progress=False, workers=1).counts["ok"] == 4
    br = parse_config({"experiment_id": "pg_branch", "samples": 3,
                       "branch_from": {"sweep": pg_url, "experiment": "pg_src", "step": 2}})
    r = run_sweep(br, pg_url, progress=False, workers=1)
    assert r.counts["ok"] == 4 * 3 and r.written == 12
    store = Store(pg_url, create=False)
    with store.engine.connect() as conn:
        eps = [dict(e) for e in conn.execute(select(EP).where(EP.c.sweep_id == "pg_branch"))
               .mappings()]
    for e in eps:
        assert e["branch_step"] == 2 and e["key"].endswith(f"@2/{e['sample']}")
        assert _steps(store, e["key"])[:2] == _steps(store, e["branch_source"])[:2]
    assert run_sweep(br, pg_url, progress=False, workers=1).written == 0  # resumes: done
