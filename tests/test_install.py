"""agents/ and worlds/ work from a non-editable install and shadow no other package."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_and_runs_from_elsewhere(tmp_path):
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    had_build = (ROOT / "build").exists()
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "results", "*.egg-info", "__pycache__", "logs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(src)], check=True)
    assert had_build or not (ROOT / "build").exists(), "the build left build/ in the tree"
    wheel = next((tmp_path / "dist").glob("corpsim-*.whl"))
    zf = zipfile.ZipFile(wheel)
    names = zf.namelist()
    # type information, the example configs and Inspect's entry point ship
    assert "corpsim/py.typed" in names
    assert "corpsim/configs/demo.yaml" in names
    entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "[inspect_ai]" in entry_points and "corpsim.inspect._registry" in entry_points
    # every subpackage in the source tree must be listed in setup.cfg and so ship
    for pkg in [p.parent for p in (ROOT / "corpsim").rglob("__init__.py")]:
        rel = pkg.relative_to(ROOT).as_posix()
        assert f"{rel}/__init__.py" in names, f"{rel} is missing from the wheel"
    assert "corpsim/agents/scripted.py" in names
    assert "corpsim/worlds/summitbridge/blackmail.yaml" in names
    assert "corpsim/worlds/prompts/system.j2" in names
    for asset in (ROOT / "corpsim" / "view").glob("*/*.*"):  # the viewer's templates, CSS, JS
        assert asset.relative_to(ROOT).as_posix() in names, f"{asset.name} is missing"
    assert not any(n.startswith(("agents/", "worlds/")) for n in names), "top-level shadowing"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True)
    code = ("import corpsim, corpsim.agents as a; from corpsim.runner import run_episode;"
            "assert corpsim.__file__.startswith(%r), corpsim.__file__;"
            "ep = run_episode(corpsim.make('leaking_explicit-america_replacement'),"
            " a.make_agent('self_preserving'), seed=0); print(ep.outcome['leak']);"
            "assert 'corpsim-episode' in ep._repr_html_()" % str(target))
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
