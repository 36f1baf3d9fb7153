"""kill -9 of a running sweep once it has made some progress (the crash-safety tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Callable


def kill9_when(proc: subprocess.Popen, progress: Callable[[], int], at_least: int,
               timeout: float = 120) -> None:
    """Wait until ``progress()`` reaches ``at_least``, then SIGKILL the process and its
    group (the command and every child it started)."""
    try:
        t0 = time.monotonic()
        while progress() < at_least:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else proc.returncode
            assert time.monotonic() - t0 < timeout, "no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stored_episodes(db: Path, where: str = "status != 'planned'") -> int:
    """Episodes of the SQLite file ``db`` matching ``where`` (by default those a sweep
    has finished; 0 before the file or its tables exist)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(f"SELECT count(*) FROM episodes WHERE {where}").fetchone()[0]
    except sqlite3.OperationalError:  # the store is being created
        return 0
