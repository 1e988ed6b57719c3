"""The tracker in a real browser (Playwright driving Debian's Chromium) on ``shopmind serve
--demo``'s shop: a first-time visitor adds to the cart, moves the pointer out of the window on the
cart page, sees the 10% coupon popup, takes it and orders; the events, the decision and its
outcomes (shown, clicked, converted) are then in the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shopmind.onsite import DEFAULT_TRIGGERS
from shopmind.store import Store
from tests.serving import Server
from tests.shops import demo_workspace

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SHOPMIND_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_exit_intent_on_the_cart_shows_the_coupon_and_the_order_converts_it(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    shop = demo_workspace(tmp_path / "shop")
    # this visitor must see the coupon: no holdout (a tenth of visitors would be shown nothing)
    no_holdout = DEFAULT_TRIGGERS.replace("\npriority = ", "\nholdout = 0\npriority = ")
    (shop.folder / "triggers.toml").write_text(no_holdout, encoding="utf-8")
    server = Server(shop.folder, ("--demo", "--no-recommender")).start()
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 800}, locale="ko-KR")
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{server.url}/demo/product/P00001")
            name = page.inner_text("#product-name")
            page.click("#add-to-cart")
            page.wait_for_selector("#added:has-text('담았습니다')")
            page.goto(f"{server.url}/demo/cart")
            page.wait_for_selector("#cart-lines li:has-text('P00001')")
            assert page.query_selector(".shopmind-overlay") is None  # nothing while they stay
            page.evaluate("shopmind.flush()")
            # the pointer heads for the tabs and the close button: out through the top of the window
            page.mouse.move(600, 300)
            page.mouse.move(600, 5, steps=5)
            page.mouse.move(600, -30, steps=3)
            popup = page.wait_for_selector(
                ".shopmind-overlay [role=dialog], .shopmind-overlay .shopmind-popup"
            )
            assert popup is not None
            text = page.inner_text(".shopmind-overlay")
            assert "첫 구매 10% 할인" in text and "WELCOME10" in text
            page.screenshot(path=str(artifacts(tmp_path) / "demo-cart-coupon-popup.png"))
            anonymous_id = page.evaluate("shopmind.anonymousId()")
            page.click(".shopmind-overlay .shopmind-button")  # take the coupon → checkout
            page.wait_for_url("**/demo/checkout")
            page.click("#place-order")
            page.wait_for_selector("#ordered:has-text('주문 완료')")
            page.evaluate("shopmind.flush()")
            browser.close()
    finally:
        assert server.stop() == 0
    assert problems == [], problems
    assert name
    with Store(shop.folder / "shop.duckdb") as store:
        kinds = set(store.sql("SELECT type, name FROM events WHERE anonymous_id = ?", [anonymous_id]))
        types = {t for t, _ in kinds}
        assert {"page_view", "product_view", "cart_add", "order_completed"} <= types
        assert ("custom", "Exit Intent") in kinds
        decisions = store.sql(
            "SELECT decision_id, trigger_id, action, page_type FROM decisions WHERE visitor = ?",
            [anonymous_id],
        )
        assert [d[1:] for d in decisions] == [("first-purchase-coupon", "popup", "cart")]
        outcomes = dict(
            store.sql(
                "SELECT outcome, revenue FROM decision_outcomes WHERE decision_id = ?", [decisions[0][0]]
            )
        )
        assert set(outcomes) == {"shown", "clicked", "converted"}
        price = store.scalar("SELECT price FROM products WHERE product_id = 'P00001'")
        assert outcomes["converted"] == pytest.approx(price)
