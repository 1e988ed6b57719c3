"""The marketer's first screens in a real browser (Playwright driving Debian's Chromium) against
``shopmind serve`` on a synthetic shop whose every job has run: the overview's KPI tiles for a
range picked in the date fields, each with its change against the period before, equal to what
``insights.kpis`` reads from the store; and the customer 360 found by a guest's phone number typed
in the international form (the plain number comes from the simulator's seed, the store holds only
its keyed hash), with their orders, consent and taste in words. Screenshots go to
``SHOPMIND_ARTIFACTS`` (or the test's folder)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind import insights
from shopmind.demo import guest_contact
from shopmind.store import ConsentEntry, Store, Workspace, record_consents
from tests.serving import Server
from tests.shops import understood_workspace
from tests.test_browser_dashboard import CHROMIUM, _browser, _sign_in, artifacts

CONSENTED = datetime(2026, 2, 14, 11, tzinfo=UTC)  # the guest agreed to text messages at checkout

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)
SEED = 5  # tests.shops.understood_workspace's demo seed


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _won(value: float | None) -> str:
    return "–" if value is None else f"₩{value:,.0f}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    folder = understood_workspace(tmp_path_factory.mktemp("marketer") / "shop", customers=600)
    hasher = Workspace(folder).hasher()
    with Store(folder / "shop.duckdb") as store:
        default = insights.kpis(store)
        start, end = default.end - timedelta(days=13), default.end  # the last two weeks
        picked = insights.kpis(store, start, end, within=14)
        guest = None
        for number in range(2_000):  # the first demo guest who bought, by the simulator's numbering
            _, phone = guest_contact(SEED, number)
            orders = store.scalar(
                "SELECT count(*) FROM orders WHERE phone_hash = ? AND verified", [hasher.phone(phone)]
            )
            if orders:
                guest = (phone, int(orders))
                break
        assert guest is not None
        record_consents(
            store,
            [
                ConsentEntry(
                    f"phone:{hasher.phone(guest[0])}", "sms", True, CONSENTED, "checkout", source="test"
                )
            ],
        )
    server = Server(folder)
    facts = {"password": server.add_user("marketer", "marketer"), "picked": picked, "guest": guest}
    server.start()
    try:
        yield server, facts
    finally:
        assert server.stop() == 0


def test_overview_kpis_for_a_picked_range_and_the_360_search_by_phone(
    shop: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    picked: insights.KpiReport = facts["picked"]
    phone, orders = facts["guest"]
    problems: list[str] = []
    out = artifacts(tmp_path)
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["password"], login="marketer")
        # the range is picked in the form, as a marketer does
        page.fill("#kpi-range input[name=start]", picked.start.isoformat())
        page.fill("#kpi-range input[name=end]", picked.end.isoformat())
        page.fill("#kpi-range input[name=within]", "14")
        page.click("#kpi-range button[type=submit]")
        page.wait_for_url(f"**start={picked.start.isoformat()}**")
        compare = page.inner_text("#kpi-compare")
        assert picked.previous_start.isoformat() in compare and picked.previous_end.isoformat() in compare
        for kpi in picked.kpis:
            tile = page.inner_text(f"#kpi-{kpi.key} strong")
            assert tile == (_percent(kpi.value) if kpi.is_rate else _won(kpi.value)), kpi.key
            change = page.inner_text(f"#kpi-{kpi.key} .change")
            assert (_percent(kpi.previous) if kpi.is_rate else _won(kpi.previous)) in change, kpi.key
            assert kpi.value is not None, kpi.key  # a demo shop has every figure
        assert "14일" in page.inner_text("#kpi-second_purchase")
        page.screenshot(path=str(out / "marketer-overview-kpis-ko.png"), full_page=True)
        page.goto(server.url + "/dashboard/overview?start=2026-03-09&end=2026-03-01")
        assert page.inner_text("#kpi-error").startswith("시작일")  # named, and the default shown

        # the 360 search by phone, typed as +82 10 …: hashed like the stored 010-… form
        digits = phone.replace("-", "")
        typed = f"+82 {digits[1:3]} {digits[3:7]} {digits[7:]}"
        page.goto(server.url + "/dashboard/customer")
        page.fill("input[name=id]", typed)
        page.click("form.find button[type=submit]")
        page.wait_for_selector("#order-list")
        shown = page.url.split("?id=")[1]  # posted: the URL names the profile (a keyed hash), not the phone
        assert shown.startswith(("email%3A", "phone%3A")) and digits not in shown and "+82" not in shown
        assert "비회원" in page.inner_text("#profile-id")
        assert page.locator("#order-list tbody tr").count() == orders
        sms = page.inner_text("#consent tr[data-channel=sms]")
        assert "문자" in sms and "동의" in sms and "주문 결제" in sms, sms
        assert phone not in page.content() and digits not in page.content()  # never shown back in plain
        page.screenshot(path=str(out / "marketer-customer-360-by-phone-ko.png"), full_page=True)
        page.goto(page.url + "&lang=en")
        page.wait_for_selector("html[lang='en']")
        sms = page.inner_text("#consent tr[data-channel=sms]")
        assert "text message" in sms and "granted" in sms and "checkout" in sms, sms
        page.screenshot(path=str(out / "marketer-customer-360-by-phone-en.png"), full_page=True)
        browser.close()
    assert not problems, problems
