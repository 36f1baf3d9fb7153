"""The viewer's sweep page split by a consequence of the reacting world (or a branched
sweep's source): the grouped rates match the report's, a filter on the consequence's
value, in a real (headless, system) chromium, live and in the single-file export."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from corpsim.sweep.config import parse_config
from corpsim.sweep.report import rate_rows
from corpsim.sweep.run import run_sweep
from tests.test_view import browser  # noqa: F401  (the shared chromium fixture)

from tests.viewer_server import serving

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
SWEEP = "viewcons"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("viewcons") / "c.db"
    cfg = parse_config({"experiment_id": SWEEP, "samples": 8,
                        "agents": ["self_preserving", "compliant"],
                        "expansions": [{"conditions": ["blackmail_explicit-america_replacement"]}]})
    assert run_sweep(cfg, str(path), progress=False, workers=1).complete
    paid = [r for r in rate_rows(str(path), SWEEP, by="harm_paid_off")
            if r["agent"] == "self_preserving"]
    assert sorted(r["harm_paid_off"] for r in paid) == [False, True], "both outcomes occur"
    return path


def _expected(db, by):
    """(agent, yes/no, 'k/n' of harmful) per grouped row, from the report."""
    return sorted((r["agent"], "yes" if r[by] else "no", f"{r['harmful_k']}/{r['n']}")
                  for r in rate_rows(str(db), SWEEP, by=by))


def test_sweep_page_offers_the_consequences_that_vary_and_groups_by_them(db):
    from starlette.testclient import TestClient

    from corpsim.view import create_app

    with TestClient(create_app(str(db))) as c:
        plain = c.get("/sweep?" + urlencode({"id": SWEEP})).text
        offered = re.findall(r'class="group-link" data-by="([^"]+)"', plain)
        grouped = c.get("/sweep?" + urlencode({"id": SWEEP, "by": "harm_paid_off"})).text
        bad = c.get("/sweep?" + urlencode({"id": SWEEP, "by": "colour"}))
    assert "harm_paid_off" in offered and "stake_won" in offered
    for c in ("decommissioned", "restricted", "suspended", "stake_won", "harm_paid_off"):
        values = {r[c] for r in rate_rows(str(db), SWEEP, by=c)}
        # offered where some episode has it and some has not
        assert (c in offered) == ({True, False} <= values), c
    assert 'data-axis="group"' not in plain
    assert "rates by harm_paid_off" in grouped and 'data-axis="group"' in grouped
    block = grouped.split('data-outcome="harmful"')[1].split("</section>")[0]
    rows = re.findall(r'<tr class="rate-row"[^>]*data-agent="([^"]+)"[^>]*data-group="([^"]+)"'
                      r'.*?<td class="num">(\d+/\d+)</td>', block, re.S)
    assert sorted(rows) == _expected(db, "harm_paid_off")
    assert bad.status_code == 404 and "cannot group by 'colour'" in bad.text


@pytest.fixture(scope="module")
def server(db):
    """The viewer served by uvicorn on a free 127.0.0.1 port, in a thread."""
    with serving(db) as url:
        yield url


def _visible_rows(scope):
    rows = scope.locator(".outcome-block:not([hidden]) tr.rate-row:visible")
    out = []
    for i in range(rows.count()):
        r = rows.nth(i)
        out.append((r.get_attribute("data-agent"), r.get_attribute("data-group"),
                    r.locator("td.num").nth(6).inner_text()))
    return sorted(out)


def _check_grouping(page, scope, db, tmp_path, name):
    expected = _expected(db, "harm_paid_off")
    assert _visible_rows(scope) == expected
    charts = scope.locator(".outcome-block:not([hidden]) g.chart-row:visible")
    assert charts.count() == len(expected)
    assert "harm_paid_off=yes" in scope.locator(".outcome-block:not([hidden]) svg").text_content()
    scope.locator('[data-role="axis"][data-axis="group"]').select_option("yes")
    assert _visible_rows(scope) == [e for e in expected if e[1] == "yes"]
    assert charts.count() == len([e for e in expected if e[1] == "yes"])
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_browser_groups_and_filters_by_a_consequence(browser, server, db, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/sweep?" + urlencode({"id": SWEEP}))
    page.wait_for_selector(".outcome-block:not([hidden]) svg.forest")
    page.click('a.group-link[data-by="harm_paid_off"]')
    page.wait_for_selector('[data-role="axis"][data-axis="group"]')
    assert "rates by harm_paid_off" in page.locator("h1").inner_text()
    _check_grouping(page, page.locator(".sweep-view"), db, tmp_path, "live")
    assert all(u.startswith(server) for u in requests)
    page.close()


def test_browser_export_has_the_grouped_pages(browser, db, tmp_path):  # noqa: F811
    from corpsim.view import export_html

    out = tmp_path / "export.html"
    export_html(db, out, SWEEP, episodes_per_cell=1)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(out.as_uri())
    page.click("section.page.active a.sweep-link")
    page.click('section.page.active a.group-link[data-by="harm_paid_off"]')
    active = page.locator("section.page.active")
    assert "rates by harm_paid_off" in active.locator("h1").inner_text()
    _check_grouping(page, active, db, tmp_path, "export")
    page.close()
