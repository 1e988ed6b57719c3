"""The Personas page in a real browser (Playwright driving Debian's Chromium) against ``shopmind
serve`` on the synthetic shop after a personas run: every persona's name, traits, size and value
as the store holds them, the chart of each persona's share of the buyers and of the revenue drawn
with data, in Korean (no English words on the Korean cards) and in English; a persona's customer
list; and a persona picked in the segment builder counts its members, is named in the
condition's words and is saved as a segment. Screenshots (``personas-ko.png``,
``personas-en.png``, ``personas-segment-ko.png``) go to ``SHOPMIND_ARTIFACTS`` (or the test's
folder)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind.insights import stored_personas
from shopmind.pipeline import load_demo_shop, run_customer_intelligence, run_personas
from shopmind.store import Workspace
from tests.serving import Server
from tests.shops import START
from tests.test_browser_dashboard import CHROMIUM, _browser, _charts, _sign_in, artifacts
from tests.test_browser_segments import _row, _settled

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)
DAYS = 90


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("personas-page") / "shop"
    ws = Workspace.init(folder)
    as_of = START + timedelta(days=DAYS)
    with ws.open_store() as store:  # the oracle: the library, before the server owns the store
        load_demo_shop(store, customers=600, days=DAYS, seed=5, hasher=ws.hasher())
        run_customer_intelligence(store, as_of)
        report = run_personas(store, as_of)
        found = stored_personas(store)
        assert found is not None
        sizes = dict(
            store.sql(
                "SELECT segment, count(*) FROM segment_members WHERE run_id = ? GROUP BY 1", [report.run_id]
            )
        )
    server = Server(folder)
    facts: dict[str, Any] = {
        "password": server.add_user("marketer", "marketer"),
        "found": found,
        "sizes": sizes,
    }
    server.start()
    try:
        yield server, facts
    finally:
        assert server.stop() == 0


def test_the_personas_page_in_korean_and_english(shop: tuple[Server, dict[str, Any]], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    found = facts["found"]
    problems: list[str] = []
    out = artifacts(tmp_path)
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["password"], "/dashboard/personas", login="marketer")
        assert page.inner_text("nav a[data-page='personas']") == "페르소나"
        charts = _charts(page)
        assert charts.get("persona-shares") == 2 * len(found.personas), charts  # buyers and revenue
        rows = page.query_selector_all("#personas tbody tr")
        assert [r.get_attribute("data-persona") for r in rows] == [p.key for p in found.personas]
        for p in found.personas:
            row = page.locator(f"#personas tr[data-persona='{p.key}']")
            cells = row.locator("td")
            assert cells.nth(0).inner_text() == p.name_ko
            assert cells.nth(1).inner_text().replace(",", "") == str(facts["sizes"][p.key]) == str(p.size)
            assert cells.nth(3).inner_text() == f"{100 * p.value['revenue_share']:.0f}%"
            card = page.locator(f"div.persona#{p.key}")
            assert card.locator(".persona-name").inner_text() == p.name_ko
            assert card.locator(".traits li").all_inner_texts() == p.trait_lines("ko")
            # Korean cards read Korean: no English word in what they say (VIP, PC and CLV are
            # Korean usage; the customer table holds member ids)
            said = card.locator(".persona-name, .traits, p.note").all_inner_texts()
            text = " ".join(said).replace("VIP", "").replace("PC", "").replace("CLV", "")
            assert not re.search(r"[A-Za-z]{2,}", text), text
        page.screenshot(path=str(out / "personas-ko.png"), full_page=True)

        # one persona's customers, highest spend first
        first = found.personas[0]
        page.click(f"div.persona#{first.key} a.persona-members")
        page.wait_for_url(f"**/dashboard/personas/{first.key}")
        assert page.inner_text("#segment-name") == f"{first.name_ko} · {first.size:,}"
        assert len(page.query_selector_all("table.data tbody tr")) == min(50, first.size)
        missing = page.goto(server.url + "/dashboard/personas/persona_999")
        assert missing is not None and missing.status == 404

        # one click saves a persona as a segment (campaigns, exports and live counts take it)
        page.goto(server.url + "/dashboard/personas")
        page.click(f"div.persona#{first.key} button.save-segment")
        page.wait_for_url("**/dashboard/segments/*?done=created*")
        assert page.get_attribute("#segment-members", "data-members") == str(first.size)
        assert f"지금 '{first.name_ko}' 세그먼트에 속함" in page.inner_text("#segment-words")

        page.goto(server.url + "/dashboard/personas")
        page.click("#lang-switch")
        page.wait_for_selector("html[lang='en']")
        assert page.inner_text("nav a[data-page='personas']") == "Personas"
        charts = _charts(page)
        assert charts.get("persona-shares") == 2 * len(found.personas)
        legend = " ".join(
            t.text_content() or "" for t in page.query_selector_all("#persona-shares .legendtext")
        )
        assert "Share of buyers" in legend and "Share of revenue" in legend
        for p in found.personas:
            card = page.locator(f"div.persona#{p.key}")
            assert card.locator(".persona-name").inner_text() == p.name_en
            assert card.locator(".traits li").all_inner_texts() == p.trait_lines("en")
        assert not re.search(r"[가-힣]", page.inner_text("#persona-summary .note")), "English notes"
        page.screenshot(path=str(out / "personas-en.png"), full_page=True)
        page.click("#lang-switch")
        page.wait_for_selector("html[lang='ko']")
        browser.close()
    problems = [p for p in problems if "persona_999" not in p]  # the 404 asked for above
    assert not problems, problems


def test_a_persona_picked_in_the_segment_builder(shop: tuple[Server, dict[str, Any]], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    found = facts["found"]
    persona = found.personas[-1]  # the smallest
    problems: list[str] = []
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["password"], "/dashboard/segments/new", login="marketer")
        page.fill("#name-ko", "페르소나 세그먼트")
        page.click("#add-segment")
        row = _row(page, 0)
        options = row.locator("[data-field=segment] option")
        labels = dict(
            zip(options.evaluate_all("os => os.map(o => o.value)"), options.all_inner_texts(), strict=True)
        )
        for p in found.personas:
            assert labels[p.key] == f"페르소나 · {p.name_ko}"
        row.locator("[data-field=segment]").select_option(persona.key)
        assert _settled(page) == str(persona.size)
        assert f"지금 '{persona.name_ko}' 세그먼트에 속함" in page.inner_text("#preview-words-list")
        page.screenshot(path=str(artifacts(tmp_path) / "personas-segment-ko.png"), full_page=True)
        page.click("#save-segment")
        page.wait_for_url("**/dashboard/segments/*?done=created*")
        assert page.get_attribute("#segment-members", "data-members") == str(persona.size)
        assert persona.name_ko in page.inner_text("#segment-words")
        browser.close()
    assert not problems, problems
