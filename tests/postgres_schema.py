"""A PostgreSQL schema of its own for a test module, on the server ``.ci/run`` starts.

``CORPSIM_TEST_PG_URL`` points at it; without it :func:`require_postgres` skips the
calling module locally and fails it under CI."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import pytest

PG_URL = os.environ.get("CORPSIM_TEST_PG_URL")


def require_postgres() -> None:
    """Call at module level: skip (or fail under CI) without a test server."""
    if not PG_URL:
        if os.environ.get("CI"):
            raise RuntimeError("CORPSIM_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
        pytest.skip("CORPSIM_TEST_PG_URL not set (PostgreSQL tests run in CI)",
                    allow_module_level=True)
    pytest.importorskip("psycopg")


@contextlib.contextmanager
def fresh_schema(prefix: str) -> Iterator[str]:
    """The test server's URL pointed at a new schema ``<prefix>_<random>``, dropped after."""
    from sqlalchemy import create_engine, text

    from corpsim.sweep.store import dispose_engines

    assert PG_URL
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) \
        if PG_URL.startswith("postgresql://") else PG_URL
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
