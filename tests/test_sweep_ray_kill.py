"""After a ``kill -9`` of a driver that started a local Ray, Ray's processes stop.

Without corpsim's watchdog Ray's own agents (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) outlive the driver by more than a minute (measured with Ray
2.x); with it everything is gone in seconds. The 30 s below is a generous deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .test_sweep_processes import _marked

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_a_ray_driver_stops_its_local_ray():
    pytest.importorskip("ray")
    mark = f"corpsim-test-{uuid.uuid4()}"
    code = ("import time; from corpsim.sweep.ray_backend import init_ray\n"
            "ray = init_ray(num_cpus=1)\n"
            "ray.get(ray.remote(lambda: 1).remote())\n"  # a worker process too
            "print('ready', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                            env={**os.environ, "CORPSIM_TEST_MARK": mark,
                                 "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"},
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        ray_procs = [p for p in _marked(mark) if p != proc.pid]
        assert len(ray_procs) >= 3  # gcs, raylet, a worker, the watchdog, ...
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _marked(mark) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _marked(mark):
            os.kill(pid, signal.SIGKILL)
