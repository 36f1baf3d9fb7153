"""Viewer benchmarks: server time per page (sweeps, one sweep, one cell, one episode)
and the single-file export, over a scripted sweep stored in a fresh SQLite file.

    python benchmarks/bench_view.py             # the demo grid, 10 samples (360 episodes)
    python benchmarks/bench_view.py --samples 2

Pages are requested in-process through Starlette's test client (HTTP handling included,
no network); each is timed ``--repeats`` times and the median printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    from starlette.testclient import TestClient

    from corpsim.sweep.config import DEMO_CONFIG, parse_config
    from corpsim.sweep.run import run_sweep
    from corpsim.view import create_app, export_html

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        cfg = parse_config({**DEMO_CONFIG, "samples": args.samples})
        res = run_sweep(cfg, db, progress=False)
        sid = cfg.experiment_id
        n = res.counts["total"]
        c = TestClient(create_app(db))
        key = f"{sid}/blackmail_explicit-america_replacement|interactive/self_preserving/0"
        pages = {
            "sweeps": "/",
            "sweep": "/sweep?" + urlencode({"id": sid}),
            "cell": "/cell?" + urlencode({"sweep": sid, "agent": "self_preserving",
                                          "cell": "blackmail_explicit-america_replacement|interactive"}),
            "episode": "/episode?" + urlencode({"sweep": sid, "key": key}),
        }
        print(f"{n} episodes; median of {args.repeats}")
        for name, url in pages.items():
            assert c.get(url).status_code == 200
            print(f"  page {name:8s}: {median_ms(lambda: c.get(url), args.repeats):7.1f} ms")
        out = Path(tmp) / "export.html"
        ms = median_ms(lambda: export_html(db, out, sid), max(1, args.repeats // 3))
        print(f"  export      : {ms / 1000:7.2f} s ({out.stat().st_size / 1e6:.1f} MB, "
              f"{1000 * ms / n / 1000:.1f} ms per episode)")


if __name__ == "__main__":
    main()
