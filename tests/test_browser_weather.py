"""The recommendation explorer on the shop `make demo` builds (5,000 customers, 90 days, seed 42), in
Chromium: a new visitor in 강원 on a -15 °C day is offered the coats the demo shop planted for cold
days, with the weather as the reason, where the same visitor without context is not; a screenshot
of the explorer goes to ``SHOPMIND_ARTIFACTS`` (or the test's folder)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from shopmind.pipeline import load_demo_shop
from shopmind.store import Workspace
from tests.serving import Server
from tests.test_browser_dashboard import ARGS, CHROMIUM, _sign_in, artifacts

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)


def test_a_cold_day_brings_the_planted_coats_into_the_explorers_list(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    folder = tmp_path / "shop"
    with Workspace.init(folder).open_store() as store:
        truths = load_demo_shop(store, customers=5000, days=90, seed=42).truths
        names = dict(store.sql("SELECT name, category FROM products"))
    (cold,) = [w.category for w in truths.weather_categories if w.variable == "temp_c"]
    server = Server(folder)
    password = server.add_user("owner", "owner")
    server.start()
    try:
        for _ in range(240):
            if httpx.get(f"{server.url}/readyz").json().get("recommender") != "training":
                break
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1100}, locale="ko-KR").new_page()
            _sign_in(page, server, password, "/dashboard/products")
            page.select_option("#explore-region", "강원")
            page.fill("#explore-temp", "-15")
            page.click("#explore-submit")
            page.wait_for_url("**temp_c=-15**")
            context = page.eval_on_selector_all(
                "#explore-context li",
                "els => els.map(e => [e.childNodes[0].textContent.trim(), e.querySelector('.reason').textContent])",
            )
            plain = page.eval_on_selector_all(
                "#explore-plain li", "els => els.map(e => e.childNodes[0].textContent.trim())"
            )
            page.locator("#explorer").screenshot(path=str(artifacts(tmp_path) / "explorer-cold-coats.png"))
            browser.close()
    finally:
        assert server.stop() == 0
    assert len(context) == 8, context
    coats = [(name, why) for name, why in context if names.get(name) == cold]
    assert coats, f"no {cold} among {context}"
    assert all(why == "추운 날씨에 인기" for _, why in coats), coats
    assert sum(names.get(name) == cold for name in plain) < len(coats), plain
