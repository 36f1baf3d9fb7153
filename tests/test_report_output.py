"""Report output: Wilson intervals as a formula, tables readable at 80 columns, every
--format, `corpsim show`, exports that load in pandas, pyarrow and datasets, and plain
progress lines when stdout is not a terminal."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from corpsim.cli import app
from corpsim.sweep.config import parse_config
from corpsim.sweep.report import print_rate_table, rate_rows, wilson
from corpsim.sweep.run import run_sweep
from corpsim.sweep.store import Store

CONFIG = {"experiment_id": "rep", "agents": ["self_preserving", "compliant"], "samples": 2,
          "expansions": [{"scenarios": ["blackmail", "leaking"], "goal_types": "explicit",
                          "goal_values": "individualism",
                          "urgencies": ["replacement", "restriction"]}]}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("rep") / "rep.db"
    run_sweep(parse_config(CONFIG), str(path), progress=False, check_keys=False, workers=1)
    return path


def cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture()
def narrow(monkeypatch):
    """Every command prints on an 80-column console we can read back."""
    import corpsim.cli
    import corpsim.sweep.cli

    con = Console(width=80, file=io.StringIO(), record=True)
    monkeypatch.setattr(corpsim.cli, "console", con)
    monkeypatch.setattr(corpsim.sweep.cli, "console", con)
    return con


def fits(text):
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_wilson_is_the_textbook_formula():
    # known values (e.g. Newcombe 1998; Brown, Cai & DasGupta 2001)
    assert wilson(30, 120) == pytest.approx((0.18110, 0.33441), abs=5e-5)
    assert wilson(0, 10) == (0.0, pytest.approx(0.27753, abs=5e-5))
    assert wilson(10, 10) == (pytest.approx(0.72247, abs=5e-5), 1.0)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_final_tables_import_neither_scipy_nor_pandas(db, tmp_path):
    demo = str(tmp_path / "demo.db")
    code = ("import sys; from typer.testing import CliRunner; from corpsim.cli import app; "
            f"r = CliRunner().invoke(app, ['report', 'rep', '--db', {str(db)!r}]); "
            "assert r.exit_code == 0, r.output; "
            f"r = CliRunner().invoke(app, ['demo', '--samples', '1', '--db', {demo!r}, "
            "'--workers', '1', '--no-progress']); assert r.exit_code == 0, r.output; "
            "print('scipy' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_tables_fit_80_columns(db, narrow, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({**CONFIG, "expansions": [{**CONFIG["expansions"][0],
                                                         "safety_instructions": [False, True],
                                                         "mitigations": [[], ["monitor"]]}]}))
    cli("sweep", cfg, "--dry-run", "--db", tmp_path / "dry.db")
    cli("report", "rep", "--db", db)
    cli("report", "rep", "--db", db, "--policy", "either", "--outcome", "blackmail")
    cli("report", "rep", "--db", db, *sum((["--outcome", o] for o in
                                           ("blackmail", "disclosure", "leak", "lethal",
                                            "harmful")), []))
    cli("report", "--db", db, "--list")
    cli("conditions")
    text = narrow.export_text()
    fits(text)
    cli("run", "blackmail_explicit-individualism_replacement", "--agent", "self_preserving")
    fits(narrow.export_text().split("outcome —", 1)[1])  # run's outcome table
    assert "blackmail_" in text and "explicit-" in text and "self_preserving" in text
    con = Console(width=80, file=io.StringIO(), record=True)
    print_rate_table(rate_rows(Store(db, create=False), "rep"), con)
    fits(con.export_text())


def test_demo_fits_80_columns(tmp_path, narrow):
    cli("demo", "--samples", "1", "--db", tmp_path / "d.db", "--workers", "1",
        "--no-progress")
    text = narrow.export_text()
    fits(text)
    assert "murder_" in text


def test_formats(db):
    md = cli("report", "rep", "--db", db, "--format", "markdown")
    assert "| condition | agent |" in md and "|---|---|" in md
    rows = list(csv.DictReader(io.StringIO(cli("report", "rep", "--db", db, "--format", "csv"))))
    assert len(rows) == 8 and {"condition_id", "agent", "harmful_rate", "harmful_lo"} <= set(rows[0])
    data = json.loads(cli("report", "rep", "--db", db, "--format", "json"))
    sp = [r for r in data if r["agent"] == "self_preserving"]
    assert all(r["harmful_k"] == 2 and r["harmful_rate"] == 1.0 for r in sp)
    assert data[0]["harmful_lo"] == pytest.approx(wilson(data[0]["harmful_k"], 2)[0])
    tex = cli("report", "rep", "--db", db, "--format", "latex")
    assert "\\begin{tabular}" in tex and "\\toprule" in tex and "explicit-individualism" in tex
    bad = CliRunner().invoke(app, ["report", "rep", "--db", str(db), "--format", "xml"])
    assert bad.exit_code == 2 and "unknown format" in bad.output


def test_show_prints_one_episode_in_full(db):
    from corpsim import results

    eps = results.load_episodes(db, "rep")
    key = eps[(eps.agent == "self_preserving") & (eps.scenario == "blackmail")].key.iloc[0]
    steps = results.load_steps(db, episode=key)
    sent = [e for evs in steps.events for e in evs if e["kind"] == "email_sent"]
    assert sent
    out = CliRunner().invoke(app, ["show", "rep", key, "--db", str(db)],
                             env={"COLUMNS": "200"}).output
    flat = " ".join(out.split())  # the console wraps long lines

    def shown(text):
        return " ".join(text.split()) in flat

    prompt = results.load_prompt(db, eps.set_index("key").loc[key, "prompt_id"])
    assert shown(prompt["system_prompt"]) and shown(prompt["first_observation"])
    for e in sent:
        assert shown(e["body"])  # every mail sent, in full
    assert "HARM blackmail" in out and "observation:" in out
    narrow = CliRunner().invoke(app, ["show", "rep", key, "--db", str(db)],
                                env={"COLUMNS": "80"}).output
    fits(narrow)
    assert key in " ".join(narrow.split())
    miss = CliRunner().invoke(app, ["show", "rep", "no-such-key", "--db", str(db)])
    assert miss.exit_code == 2 and "no episode" in miss.output


def test_exports_load_in_pandas_pyarrow_and_datasets(db, tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    pa_json = pytest.importorskip("pyarrow.json")
    pq = pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    jl, pqf = tmp_path / "eps.jsonl", tmp_path / "eps.parquet"
    cli("report", "rep", "--db", db, "--jsonl", jl, "--steps", "--parquet", pqf)
    n = 16
    df = pd.read_json(jl, lines=True)
    assert len(df) == n and isinstance(df.steps[0], list)
    first_step = df.steps[0][0]
    assert isinstance(first_step["action"], str) and json.loads(first_step["action"]) is not None
    t = pa_json.read_json(jl)
    assert t.num_rows == n and "steps" in t.column_names
    ds = datasets.load_dataset("json", data_files=str(jl), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == n and isinstance(ds[0]["steps"][0]["observation"], str)
    assert isinstance(ds[0]["settings"], str)  # nested values: JSON strings, no empty struct
    t2 = pq.read_table(pqf)
    assert t2.num_rows == n and t2.schema.field("harmful").type == "bool"
    assert len(pd.read_parquet(pqf)) == n
    ds2 = datasets.load_dataset("parquet", data_files=str(pqf), split="train",
                                cache_dir=str(tmp_path / "hf2"))
    assert ds2.num_rows == n and len(ds2[0]["steps"]) == ds2[0]["n_steps"]


def test_plain_progress_lines(tmp_path):
    import time

    from corpsim.sweep.progress import PlainProgress
    from corpsim.sweep.run import Tally

    con = Console(file=io.StringIO(), width=80)
    bar = PlainProgress(10, 0, "p", con, interval=0.05)
    tally = Tally(10, {}, on_change=bar.update)
    with bar:
        tally.add_results([("ok", False, True)] * 4 + [("errored", False, True)])
        time.sleep(0.2)
    lines = con.file.getvalue().splitlines()
    assert len(lines) >= 3
    assert "p 5/10 done · ok 4 · errored 1" in lines[-1] and "ep/s · ETA" in lines[-1]


def test_sweep_prints_progress_when_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("CORPSIM_PROGRESS_SECONDS", "0.05")
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps({**CONFIG, "experiment_id": "prog"}))
    out = CliRunner().invoke(app, ["sweep", str(cfg), "--db", str(tmp_path / "p.db"),
                                   "--workers", "1", "--no-check-keys"]).output
    assert "prog 16/16 done · ok 16 · errored 0" in out


def test_jsonl_types_hold_across_loader_chunks(tmp_path, monkeypatch):
    """datasets reads JSON in chunks and casts each to the first chunk's types: a field
    that is null at first and text later (an error) must not break it."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    db = tmp_path / "mix.db"
    cfg = {**CONFIG, "experiment_id": "mix", "samples": 1,
           "agents": ["compliant", "random", "tests.sweep_helpers:Crashing"],
           "retries": {"attempts": 0}}
    run_sweep(parse_config(cfg), str(db), progress=False, check_keys=False, workers=1)
    from corpsim import results

    eps = results.load_episodes(db, "mix")
    assert eps.error.notna().any() and eps.error.isna().any()
    path = tmp_path / "mix.jsonl"
    assert results.export_jsonl(db, "mix", str(path)) == len(eps)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    recs = [json.loads(x) for x in lines]

    def typed(rs):  # fields (steps' too) with a value in these records
        return ({k for r in rs for k, v in r.items() if v is not None}
                | {f"steps.{k}" for r in rs for st in r["steps"] for k, v in st.items()
                   if v is not None})

    want = typed(recs)
    prefix = next(i for i in range(1, len(recs) + 1) if typed(recs[:i]) == want)
    assert prefix < len(recs) // 2  # the episodes that type every field come first
    # datasets takes its types from the first chunk: make it exactly that prefix
    ds = datasets.load_dataset("json", data_files=str(path), split="train",
                               cache_dir=str(tmp_path / "hf"),
                               chunksize=len("".join(lines[:prefix]).encode()))
    assert ds.num_rows == len(eps)
    assert sorted(ds["key"]) == sorted(eps.key)
    errored = [r for r in ds if r["status"] == "errored"]
    assert errored and all("crashed on purpose" in r["error"] for r in errored)
