"""The recommendation explorer on the shop `make demo` builds (5,000 customers, 90 days, seed 42), in
Chromium: a new visitor in 강원 on a -15 °C day is offered the coats the demo shop planted for cold
days, and a new visitor in 서울 on a day of 25 mm of rain the rain gear it planted for rainy days,
with the weather as the reason, where the same visitor without context (or on a dry day) is not.
Screenshots of the explorer go to ``SHOPMIND_ARTIFACTS`` (or the test's folder)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shopmind.demo import PlantedTruths
from shopmind.pipeline import load_demo_shop
from shopmind.store import Workspace
from tests.serving import Server
from tests.test_browser_dashboard import ARGS, CHROMIUM, _sign_in, artifacts

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)


@dataclass(frozen=True)
class Demo:
    server: Server
    password: str
    truths: PlantedTruths
    names: dict[str, str]  # product name -> category

    def category(self, variable: str) -> str:
        (category,) = [w.category for w in self.truths.weather_categories if w.variable == variable]
        return category


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("weather") / "shop"
    with Workspace.init(folder).open_store() as store:
        truths = load_demo_shop(store, customers=5000, days=90, seed=42).truths
        names = dict(store.sql("SELECT name, category FROM products"))
    server = Server(folder)
    password = server.add_user("owner", "owner")
    server.start()
    try:
        for _ in range(240):
            if httpx.get(f"{server.url}/readyz").json().get("recommender") != "training":
                break
            time.sleep(0.5)
        yield Demo(server, password, truths, names)
    finally:
        assert server.stop() == 0


def _explore(
    demo: Demo, fields: dict[str, str], screenshot: Path | None = None
) -> tuple[list[tuple[str, str]], list[str]]:
    """Fill the explorer's form (region, then the fields by their input id), press the button and
    read both lists: (name, reason) in the context, names without it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1100}, locale="ko-KR").new_page()
        _sign_in(page, demo.server, demo.password, "/dashboard/products")
        page.select_option("#explore-region", fields.pop("region"))
        for selector, value in fields.items():
            page.fill(selector, value)
        page.click("#explore-submit")
        page.wait_for_url("**region=**")
        context = page.eval_on_selector_all(
            "#explore-context li",
            "els => els.map(e => [e.childNodes[0].textContent.trim(), e.querySelector('.reason').textContent])",
        )
        plain = page.eval_on_selector_all(
            "#explore-plain li", "els => els.map(e => e.childNodes[0].textContent.trim())"
        )
        if screenshot is not None:
            page.locator("#explorer").screenshot(path=str(screenshot))
        browser.close()
    return [(name, why) for name, why in context], plain


def test_a_cold_day_brings_the_planted_coats_into_the_explorers_list(demo: Demo, tmp_path: Path) -> None:
    cold = demo.category("temp_c")
    shot = artifacts(tmp_path) / "explorer-cold-coats.png"
    context, plain = _explore(demo, {"region": "강원", "#explore-temp": "-15"}, shot)
    assert len(context) == 8, context
    coats = [(name, why) for name, why in context if demo.names.get(name) == cold]
    assert coats, f"no {cold} among {context}"
    assert all(why == "추운 날씨에 인기" for _, why in coats), coats
    assert sum(demo.names.get(name) == cold for name in plain) < len(coats), plain


def test_a_rainy_day_brings_the_planted_rain_gear_into_the_explorers_list(demo: Demo, tmp_path: Path) -> None:
    rain = demo.category("precip_mm")
    shot = artifacts(tmp_path) / "explorer-rain-gear.png"
    wet, plain = _explore(demo, {"region": "서울", "#explore-precip": "25"}, shot)
    dry, _ = _explore(demo, {"region": "서울", "#explore-precip": "0"})
    assert len(wet) == len(dry) == 8, (wet, dry)
    gear = [(name, why) for name, why in wet if demo.names.get(name) == rain]
    assert gear, f"no {rain} among {wet}"
    assert all(why == "비 오는 날 인기" for _, why in gear), gear
    assert not [name for name in plain if demo.names.get(name) == rain], plain
    assert not [name for name, _ in dry if demo.names.get(name) == rain], dry
