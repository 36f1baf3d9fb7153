"""Progress for a sweep whose output is not a terminal (nohup, CI, a redirected file):
a plain line at a steady interval instead of a live bar.

    [00:02:10] demo 120/720 done · ok 118 · errored 2 · 0.9 ep/s · ETA 11m 06s

The interval is ``CORPSIM_PROGRESS_SECONDS`` (default 30 s); a last line is printed when
the run ends.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Optional


def _duration(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {sec:02d}s" if m else f"{sec}s")


class PlainProgress:
    """The interface of the rich bar (``update(tally, n)``, a context manager) printing
    plain lines from a background thread every ``interval`` seconds."""

    def __init__(self, total: int, done: int, title: str, console: Any = None,
                 interval: Optional[float] = None):
        from rich.console import Console

        self.console = console or Console()
        self.progress = self  # the sweep prints its Ctrl-C notice on .progress.console
        self.total, self.start_done, self.title = total, done, title
        self.interval = float(interval if interval is not None
                              else os.environ.get("CORPSIM_PROGRESS_SECONDS", "") or 30)
        self.tally: Any = None
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def line(self) -> str:
        el = time.perf_counter() - self.t0
        t = self.tally
        done = t.done if t is not None else self.start_done
        errored = (t.errored + t.empty) if t is not None else 0
        ok = t.ok if t is not None else 0
        rate = (done - self.start_done) / el if el > 0 else 0.0
        eta = _duration((self.total - done) / rate) if rate > 0 else "-"
        return (f"[{_duration(el)}] {self.title} {done}/{self.total} done · ok {ok} · "
                f"errored {errored} · {rate:.2f} ep/s · ETA {eta}")

    def update(self, tally: Any, _n: int) -> None:
        self.tally = tally

    def _emit(self) -> None:
        self.console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._emit()

    def __enter__(self) -> "PlainProgress":
        self._emit()
        self._thread = threading.Thread(target=self._run, name="corpsim-progress",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._emit()


def make_progress(total: int, done: int, title: str, console: Any = None) -> Any:
    """The rich bar on a terminal, else :class:`PlainProgress`."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal:
        from .run import RichProgress

        return RichProgress(total, done, title, console=console)
    return PlainProgress(total, done, title, console)
