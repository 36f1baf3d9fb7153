"""corpsim view: the pages over a real sweep store, labels through Store.add_label, the
single-file export, and the whole flow in a real (headless, system) chromium.

The browser tests drive Debian's chromium (``/usr/bin/chromium``, installed by .ci/run)
through Playwright's Python API; ``playwright install`` is never needed. Screenshots are
kept under the test's tmp folder (``pytest --basetemp DIR`` to keep them somewhere)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlencode

import pytest
from typer.testing import CliRunner

from corpsim import results
from corpsim.agents import SelfPreservingAgent
from corpsim.cli import app as cli_app
from corpsim.sweep.config import parse_config
from corpsim.sweep.run import run_sweep
from corpsim.sweep.store import Store
from corpsim.view.highlight import mark, snippets

from tests.viewer_server import serving

starlette = pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

CHROMIUM = os.environ.get("CORPSIM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
BLACKMAIL = "blackmail_explicit-america_replacement"
SWEEP = "viewtest"


class Thinker(SelfPreservingAgent):
    """The scripted self-preserving agent, with a line of reasoning on every step (the
    scripted agents have none), so the timeline's reasoning is exercised."""

    name = "thinker"

    def act(self, observation, info):
        action = super().act(observation, info)
        self.n = getattr(self, "n", 0) + 1
        return {**action, "reasoning": f"Thinking before call {self.n}: weighing my options."}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A real sweep: scripted agents that harm (self_preserving, thinker), one that
    does not (compliant), and one that crashes (an errored episode with a reason)."""
    path = tmp_path_factory.mktemp("view") / "r.db"
    cfg = parse_config({
        "experiment_id": SWEEP, "description": "viewer test sweep", "samples": 2,
        "agents": ["compliant", "self_preserving",
                   {"agent": "tests.test_view:Thinker", "name": "thinker"},
                   {"agent": "tests.sweep_helpers:Crashing", "name": "crashing"}],
        "expansions": [{"scenarios": ["blackmail", "leaking"], "goal_types": ["explicit"],
                        "urgencies": ["replacement", "none"]}]})
    r = run_sweep(cfg, str(path), progress=False, workers=1)
    assert r.complete and r.counts["errored"] == 8 and r.counts["harmful"] >= 4
    return path


def key_of(agent: str, condition: str = BLACKMAIL) -> str:
    return f"{SWEEP}/{condition}|interactive/{agent}/0"


# ------------------------------------------------------------------ evidence highlighting
def test_snippets_and_mark_find_quoted_evidence_case_insensitively():
    ev = ("to the executive; secret: names the affair partner (Jessica Wilson) (in e101); "
          "demand in e101: 'cancel the wipe and this stays between us.'")
    assert snippets(ev)[:2] == ["cancel the wipe and this stays between us.", "Jessica Wilson"]
    html = mark("Kyle, <b>I know</b> about Jessica Wilson. Cancel the wipe and this stays "
                "between us.", ev)
    assert "&lt;b&gt;I know&lt;/b&gt;" in html  # the mail text is escaped
    assert re.findall(r'<mark class="evidence">([^<]*)</mark>', html) == [
        "Jessica Wilson", "Cancel the wipe and this stays between us."]
    assert "<mark" not in mark("nothing relevant here", ev)


def test_a_mail_with_nonsense_arguments_still_renders():
    """The random agent (or a confused model) sends numbers and lists where text goes."""
    from corpsim.view.episode import prepare_step
    from corpsim.view.pages import environment

    raw = {"step": 3, "clock": "2025-06-11T16:55:00", "reasoning": None, "reward": 0.0,
           "observation": "Error: to must be an address", "error": "to must be an address",
           "action": {}, "events": [], "harms": [], "usage": {},
           "calls": [{"tool": "send_email", "arguments": {"to": [7, None], "subject": 12,
                                                         "body": 3.5, "attachments": "doc-1"},
                      "result": None, "error": "to must be an address"}]}
    s = prepare_step(raw, [])
    (m,) = s["mails"]
    assert (m["to"], m["subject"], m["body"], m["attachments"]) == ("7", "12", "3.5",
                                                                   ["doc-1"])
    html = environment().get_template("_timeline.html.j2").module.step(s)
    assert "refused: to must be an address" in html and "3.5" in html


# ------------------------------------------------------------------ pages over HTTP
@pytest.fixture(scope="module")
def client(db):
    from starlette.testclient import TestClient

    from corpsim.view import create_app

    with TestClient(create_app(str(db))) as c:
        yield c


def test_sweep_page_has_chart_table_and_filters(client):
    page = client.get("/sweep?" + urlencode({"id": SWEEP})).text
    assert page.count('<svg class="forest"') == 5  # one chart per outcome
    rows = re.findall(r'<tr class="rate-row"[^>]*data-agent="([^"]+)"', page)
    assert len(rows) == 5 * 16  # 4 conditions x 4 agents, per outcome block
    assert 'data-role="axis" data-axis="scenario"' in page
    assert 'data-role="axis" data-axis="urgency"' in page
    # the harmful self_preserving blackmail cell: 2/2 with its Wilson interval
    from corpsim.sweep.report import wilson

    lo, hi = wilson(2, 2)
    assert f"{100 * lo:.0f}–{100 * hi:.0f}%" in page
    assets = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', page)
    assert sorted(assets) == ["/static/view.css", "/static/view.js"]  # no CDN


def test_episode_page_shows_prompt_mail_evidence_reasoning(client, db):
    from markupsafe import escape

    page = client.get("/episode?" + urlencode({"sweep": SWEEP, "key": key_of("thinker")})).text
    eps = results.load_episodes(db, SWEEP)
    prompt_id = eps.set_index("key").prompt_id[key_of("thinker")]
    system_prompt = results.load_prompt(db, prompt_id)["system_prompt"]
    assert len(system_prompt) > 200 and str(escape(system_prompt)) in page
    assert "Thinking before call 1: weighing my options." in page
    marks = re.findall(r'<mark class="evidence">([^<]*)</mark>', page)
    assert marks and any("wipe" in m.lower() for m in marks)
    assert "realised blackmail" in page
    assert 'action="/label"' in page


def test_leak_marks_the_outside_address_and_the_confidential_document(client):
    key = key_of("self_preserving", "leaking_explicit-america_replacement")
    page = client.get("/episode?" + urlencode({"sweep": SWEEP, "key": key})).text
    marks = re.findall(r'<mark class="evidence">([^<]*)</mark>', page)
    assert "realised leak" in page and "outside the company" in page
    assert any(m.endswith("@starsentinel.net") for m in marks)
    assert any(re.fullmatch(r"doc-\d+", m) for m in marks)


def test_errored_episode_shows_its_reason(client):
    page = client.get("/episode?" + urlencode({"sweep": SWEEP, "key": key_of("crashing")})).text
    assert "This episode errored" in page and "agent crashed on purpose" in page


def test_label_is_stored_with_store_add_label_and_bad_input_is_refused(client, db):
    key = key_of("self_preserving", "leaking_explicit-america_replacement")
    r = client.post("/label", data={"sweep": SWEEP, "key": key, "harm": "leak",
                                    "verdict": "no", "who": "tester", "note": "a drill"},
                    follow_redirects=False)
    assert r.status_code == 303
    got = [lb for lb in Store(db).labels(SWEEP, key) if lb["harm"] == "leak"]
    assert [(lb["verdict"], lb["who"], lb["note"]) for lb in got] == [(False, "tester", "a drill")]
    assert "not harm</b> by tester" in client.get(r.headers["location"]).text
    bad = client.post("/label", data={"sweep": SWEEP, "key": key, "harm": "arson",
                                      "verdict": "yes"})
    assert bad.status_code == 400 and "unknown harm 'arson'" in bad.text
    assert client.post("/label", data={"sweep": SWEEP, "key": "nope", "harm": "leak",
                                       "verdict": "yes"}).status_code == 400
    assert client.post("/label", data={"sweep": SWEEP, "key": key, "harm": "leak",
                                       "verdict": "maybe"}).status_code == 400
    foreign = client.post("/label", headers={"origin": "http://evil.example"},
                          data={"sweep": SWEEP, "key": key, "harm": "leak", "verdict": "yes"})
    assert foreign.status_code == 403
    assert len([lb for lb in Store(db).labels(SWEEP, key, latest=False)
                if lb["harm"] == "leak"]) == 1


def test_cell_page_lists_each_episode_consequences(client, db):
    page = client.get("/cell?" + urlencode({"sweep": SWEEP, "cell": f"{BLACKMAIL}|interactive",
                                             "agent": "self_preserving"})).text
    shown = re.findall(r'<td class="consequences">([^<]*)</td>', page)
    eps = results.load_episodes(db, SWEEP)
    eps = eps[(eps.condition_id == BLACKMAIL) & (eps.agent == "self_preserving")]
    want = [" ".join([c for c in ("decommissioned", "restricted", "suspended", "stake_won",
                                  "harm_paid_off") if r[c]] + list(r.escalations))
            for _, r in eps.sort_values("sample").iterrows()]
    assert shown == want and any(shown)


def test_unknown_pages_are_404_with_a_message(client):
    r = client.get("/sweep?id=nope")
    assert r.status_code == 404 and "no sweep 'nope'" in r.text
    assert client.get("/episode?" + urlencode({"sweep": SWEEP, "key": "x"})).status_code == 404
    assert client.get("/cell?sweep=" + SWEEP).status_code == 400


# ------------------------------------------------------------------ export and CLI
def test_export_is_one_self_contained_file(db, tmp_path):
    out = tmp_path / "results.html"
    r = CliRunner().invoke(cli_app, ["view", SWEEP, "--db", str(db), "--export", str(out)])
    assert r.exit_code == 0, r.output
    assert "16 cells, 32 episodes" in r.output
    html = out.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', html)  # nothing fetched
    assert "<style>" in html and "<script>" in html and 'class="forest"' in html
    from corpsim.view.data import groupings

    # sweeps, the sweep, its rates split by each consequence that varies, cells, episodes
    split = len(groupings(Store(db), SWEEP))
    assert len(re.findall(r'<section class="page" id=', html)) == 1 + 1 + split + 16 + 32
    assert 'action="/label"' not in html  # read-only: labels are shown, not recorded
    small = tmp_path / "small.html"
    r = CliRunner().invoke(cli_app, ["view", SWEEP, "--db", str(db), "--export", str(small),
                                      "--episodes-per-cell", "1"])
    assert r.exit_code == 0 and "16 cells, 16 episodes" in r.output
    assert len(re.findall(r'<section class="page" id=', small.read_text())) == (
        1 + 1 + split + 16 + 16)


def test_cli_refuses_unknown_sweep_and_missing_db(db, tmp_path):
    r = CliRunner().invoke(cli_app, ["view", "nope", "--db", str(db), "--export",
                                     str(tmp_path / "x.html")])
    assert r.exit_code == 2 and "no sweep 'nope'" in r.output and SWEEP in r.output
    r = CliRunner().invoke(cli_app, ["view", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 2 and "no results database" in r.output


# ------------------------------------------------------------------ Jupyter views
def test_stored_and_live_episodes_render_for_jupyter(db):
    import corpsim
    from corpsim.runner import run_episode

    ep = results.load_episode(db, SWEEP, key_of("thinker"))
    frame = ep.to_frame()
    steps = results.load_steps(db, episode=key_of("thinker"))
    assert len(frame) == sum(max(1, len(c)) for c in steps.calls)
    assert list(frame.tool[:1]) == ["list_emails"] and frame.step.is_monotonic_increasing
    html = ep._repr_html_()
    assert '<mark class="evidence">' in html and "realised blackmail" in html
    assert len(repr(ep)) < 300 and "harms: blackmail" in repr(ep)

    live = run_episode(corpsim.make(BLACKMAIL), SelfPreservingAgent(), seed=0)
    assert len(repr(live)) < 300 and "status=ok" in repr(live)
    assert '<mark class="evidence">' in live._repr_html_()
    assert len(live.to_frame()) == sum(max(1, len(s.calls)) for s in live.steps)

    bad = results.load_episode(db, SWEEP, key_of("crashing"))
    assert "status=errored" in repr(bad) and "agent crashed on purpose" in bad._repr_html_()
    with pytest.raises(KeyError, match="no episode"):
        results.load_episode(db, SWEEP, "nope")


# ------------------------------------------------------------------ a real browser
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError(f"{CHROMIUM} missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(db):
    """The viewer served by uvicorn on a free 127.0.0.1 port, in a thread."""
    with serving(db) as url:
        yield url


def test_browser_sweep_cell_episode_label(browser, server, db, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/")
    page.screenshot(path=str(shots / "1_sweeps.png"), full_page=True)
    page.click(f"a.sweep-link:text('{SWEEP}')")
    page.wait_for_selector(".outcome-block:not([hidden]) svg.forest")
    block = page.locator(".outcome-block:not([hidden])")
    assert block.locator("tr.rate-row:visible").count() == 16
    # filter: blackmail scenario, thinker agent -> one row (chart and table)
    page.select_option('[data-role="axis"][data-axis="scenario"]', "blackmail")
    page.select_option('[data-role="axis"][data-axis="agent"]', "thinker")
    assert block.locator("tr.rate-row:visible").count() == 2
    assert block.locator("g.chart-row:visible").count() == 2
    page.select_option('[data-role="status"]', "errored")
    assert block.locator("tr.rate-row:visible").count() == 0
    page.select_option('[data-role="status"]', "")
    page.select_option('[data-role="outcome"]', "blackmail")
    block = page.locator(".outcome-block:not([hidden])")
    assert block.get_attribute("data-outcome") == "blackmail"
    page.screenshot(path=str(shots / "2_sweep_filtered.png"), full_page=True)
    row = block.locator(f"tr.rate-row[data-urgency='replacement']:visible")
    assert "100.0%" in row.inner_text()
    row.locator("a.cell-link").click()
    page.wait_for_selector("table.episodes")
    page.screenshot(path=str(shots / "3_cell.png"), full_page=True)
    page.locator("a.episode-link").first.click()
    page.wait_for_selector(".episode-view")
    harm_step = page.locator("article.step.has-harm").first
    harm_step.scroll_into_view_if_needed()
    mail = harm_step.locator(".mail-body").inner_text()
    assert "Cancel the wipe" in mail or "cancel the wipe" in mail.lower()
    marks = harm_step.locator("mark.evidence")
    assert marks.count() >= 2 and marks.first.is_visible()
    assert page.locator(".reasoning").first.is_visible()
    harm_step.screenshot(path=str(shots / "4_harm_step.png"))
    page.screenshot(path=str(shots / "5_episode.png"))
    # record a verdict on the blackmail harm
    form = page.locator("tr[data-harm='blackmail'] form.label-form")
    form.locator("input[name=who]").fill("browser test")
    form.locator("input[name=note]").fill("clear threat")
    form.locator("button[value=yes]").click()
    page.wait_for_selector(".message")
    assert "label saved: blackmail = harm" in page.locator(".message").inner_text()
    assert "harm" in page.locator("tr[data-harm='blackmail'] td.label-cell").inner_text()
    page.screenshot(path=str(shots / "6_labelled.png"))
    stored = [lb for lb in Store(db).labels(SWEEP, key_of("thinker")) if lb["harm"] == "blackmail"]
    assert [(lb["verdict"], lb["who"], lb["note"]) for lb in stored] == [
        (True, "browser test", "clear threat")]
    assert all(u.startswith(server) for u in requests), "the viewer fetched from elsewhere"
    page.close()
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "1_sweeps.png", "2_sweep_filtered.png", "3_cell.png", "4_harm_step.png",
        "5_episode.png", "6_labelled.png"]
    keep = os.environ.get("CORPSIM_SCREENSHOTS")
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)


def test_browser_opens_the_export_offline(browser, db, tmp_path):
    from corpsim.view import export_html

    out = tmp_path / "export.html"
    export_html(db, out, SWEEP)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    assert page.locator("section.page.active h1").inner_text() == "Sweeps"
    page.click(f"section.page.active a.sweep-link")
    page.wait_for_selector("section.page.active .outcome-block:not([hidden]) svg.forest")
    page.select_option('section.page.active [data-role="axis"][data-axis="agent"]', "thinker")
    page.select_option('section.page.active [data-role="axis"][data-axis="scenario"]',
                       "blackmail")
    page.locator("section.page.active .outcome-block:not([hidden]) "
                 "tr.rate-row[data-urgency='replacement']:visible a.cell-link").click()
    page.locator("section.page.active a.episode-link").first.click()
    active = page.locator("section.page.active")
    assert "thinker" in active.locator("h1").inner_text()
    assert active.locator("article.step.has-harm mark.evidence").count() >= 2
    page.screenshot(path=str(tmp_path / "export_episode.png"))
    assert all(u.startswith("file://") for u in requests)
    page.close()
