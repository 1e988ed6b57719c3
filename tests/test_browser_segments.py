"""The Segments page in a real browser (Playwright driving Debian's Chromium) against ``shopmind
serve`` on a synthetic shop whose every job has run: a marketer builds a segment of three
conditions with the builder's forms (no JSON typed), sees the preview count the library's
``preview`` gives for the same definition, meets a validation error in the page's language next to
its field and a "did you mean" for a misspelt event name, saves the segment, finds it in the list,
opens it, and downloads its CSV, whose rows are the segment's members; in Korean and in English.
Screenshots (``segments-builder-ko.png``, ``segments-builder-en.png``, ``segment-page-ko.png``,
``segment-page-en.png``) go to ``SHOPMIND_ARTIFACTS`` (or the test's folder)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shopmind.segments import in_words, members, parse_definition, preview
from shopmind.store import Store
from tests.serving import Server
from tests.shops import START, understood_workspace
from tests.test_browser_dashboard import CHROMIUM, _browser, _sign_in, artifacts

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)
#: the windows reach back past the synthetic shop's first day, whenever the test runs
DAYS = (datetime.now(UTC) - START).days + 30

KOREAN = {
    "name": {"ko": "자주 둘러본 구매 가능 고객", "en": "Frequent browsers likely to buy"},
    "description": {"ko": "상품을 세 번 이상 본, RFM VIP가 아닌 고객"},
    "conditions": [
        {
            "kind": "event",
            "type": "product_view",
            "count": {"at_least": 3},
            "window": {"kind": "last", "days": DAYS},
        },
        {"kind": "profile", "field": "purchase_probability_7d", "op": "<=", "value": 0.6},
        {"kind": "not", "condition": {"kind": "in_segment", "segment": "vip"}},
    ],
}
ENGLISH = {
    "name": {"en": "Ramen to the cart, Seoul, e-mail consent"},
    "conditions": [
        {"kind": "event", "type": "cart_add", "category": "라면", "window": {"kind": "last", "days": DAYS}},
        {"kind": "profile", "field": "region", "value": "서울"},
        {"kind": "consent", "channel": "email", "purpose": "advertising", "granted": True},
    ],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    folder = understood_workspace(tmp_path_factory.mktemp("segments-page") / "shop", customers=600)
    now = datetime.now(UTC)
    facts: dict[str, Any] = {}
    with Store(folder / "shop.duckdb") as store:  # the oracle: the library, before the server owns the store
        for lang, definition in (("ko", KOREAN), ("en", ENGLISH)):
            found = preview(store, definition, as_of=now)
            ids = members(store, definition, as_of=now).column("profile_id").to_pylist()
            assert found.count == len(ids) > 0, lang
            facts[lang] = {"count": found.count, "members": set(ids)}
    server = Server(folder)
    facts["password"] = server.add_user("marketer", "marketer")
    server.start()
    try:
        yield server, facts
    finally:
        assert server.stop() == 0


def _settled(page: Any) -> str:
    """The preview's count once the latest change has been counted."""
    page.wait_for_function(
        "() => !document.getElementById('preview').hasAttribute('data-busy')"
        " && document.getElementById('preview-count').getAttribute('data-count') !== null"
    )
    return page.get_attribute("#preview-count", "data-count") or ""


def _row(page: Any, index: int) -> Any:
    return page.locator("#conditions > li").nth(index)


def _downloaded_ids(page: Any, folder: Path, name: str) -> list[str]:
    with page.expect_download() as download:
        page.click("#export-csv")
    path = folder / name
    download.value.save_as(path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) >= {"profile_id", "member_id", "segment", "purchase_probability_7d"}
    return [r["profile_id"] for r in rows]


def test_build_preview_save_and_export_a_segment_in_korean(
    shop: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    expected = facts["ko"]
    problems: list[str] = []
    out = artifacts(tmp_path)
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["password"], "/dashboard/segments", login="marketer")
        assert page.inner_text("nav a[data-page='segments']") == "세그먼트"
        assert page.query_selector("#no-segments") is not None
        page.click("#new-segment")
        page.wait_for_url("**/dashboard/segments/new")

        page.fill("#name-ko", KOREAN["name"]["ko"])
        page.fill("#name-en", KOREAN["name"]["en"])
        page.fill("#description-ko", KOREAN["description"]["ko"])
        # 1. viewed products at least 3 times in the window
        page.click("#add-event")
        first = _row(page, 0)
        first.locator("[data-field=type]").select_option("product_view")
        first.locator("[data-field=count]").fill("3")
        first.locator("[data-field=days]").fill("0")  # wrong on purpose: named next to the field, in Korean
        page.wait_for_function(
            "document.querySelector('#conditions > li .field-error[data-for=days]').textContent.length > 0"
        )
        assert first.locator(".field-error[data-for=days]").inner_text() == "1에서 1,830 사이로 입력하세요."
        assert page.inner_text("#preview-count") == "–"
        first.locator("[data-field=days]").fill(str(DAYS))
        # 2. a purchase probability of at most 60%
        page.click("#add-profile")
        second = _row(page, 1)
        second.locator("[data-field=field]").select_option("purchase_probability_7d")
        assert second.locator(".pf-range .unit").first.inner_text() == "%"
        second.locator("[data-field=high]").fill("60")
        # 3. not in the RFM VIP segment
        page.click("#add-segment")
        third = _row(page, 2)
        third.locator("[data-field=segment]").select_option("vip")
        third.locator("[data-field=not]").check()
        # a misspelt event name: warned, with the name the shop has seen; then the row goes
        page.click("#add-event")
        typo = _row(page, 3)
        typo.locator("[data-field=name]").fill("문의하가 클릭")
        suggestion = typo.locator("button.suggestion")
        suggestion.wait_for()
        assert typo.locator(".row-warning").inner_text().startswith("아직 받은 적 없는 이벤트 이름입니다.")
        assert suggestion.first.inner_text() == "문의하기 클릭"
        suggestion.first.click()
        assert typo.locator("[data-field=name]").input_value() == "문의하기 클릭"
        typo.locator(".remove").click()

        assert _settled(page) == str(expected["count"])
        assert page.inner_text("#preview-count") == f"고객 {expected['count']:,}명"
        words = page.inner_text("#preview-words-list")
        assert f"최근 {DAYS:,}일 동안 상품 조회 3회 이상" in words
        assert "7일 내 구매 확률이 60% 이하" in words and "제외: 지금 'RFM VIP' 세그먼트에 속함" in words
        shown = {
            el.get_attribute("data-segment") for el in page.query_selector_all("#preview-segments-rows tr")
        }
        assert shown and "vip" not in shown  # the RFM VIPs were left out
        assert page.query_selector_all("#preview-sample-rows tr")
        page.click("#json-toggle summary")
        page.wait_for_function("document.getElementById('preview-json').textContent.length > 0")
        built = json.loads(page.inner_text("#preview-json"))
        assert parse_definition(built) == parse_definition(KOREAN), built
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(out / "segments-builder-ko.png"), full_page=True)

        page.click("#save-segment")
        page.wait_for_url("**/dashboard/segments/*?done=created*")
        assert (
            page.inner_text("#segment-done")
            == f"세그먼트를 저장하고 고객 {expected['count']:,}명을 셌습니다."
        )
        assert page.get_attribute("#segment-members", "data-members") == str(expected["count"])
        conditions = page.inner_text("#segment-words")
        lines = "\n".join(in_words(parse_definition(KOREAN), "ko").lines())
        for line in lines.splitlines():
            assert line.strip() in conditions, line
        segment_url = page.url.split("?")[0]

        page.goto(server.url + "/dashboard/segments")
        row = page.locator("#saved-segments tbody tr").first
        assert row.locator("td").first.inner_text() == KOREAN["name"]["ko"]
        assert row.locator("td[data-members]").get_attribute("data-members") == str(expected["count"])
        row.locator("a").click()
        page.wait_for_url(segment_url)
        page.screenshot(path=str(out / "segment-page-ko.png"), full_page=True)

        ids = _downloaded_ids(page, tmp_path, "segment-ko.csv")
        assert len(ids) == len(set(ids)) and set(ids) == expected["members"]
        browser.close()
    assert not problems, problems


def test_build_preview_save_and_export_a_segment_in_english(
    shop: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    expected = facts["en"]
    problems: list[str] = []
    out = artifacts(tmp_path)
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["password"], "/dashboard/segments/new?lang=en", login="marketer")
        assert page.get_attribute("html", "lang") == "en"
        assert page.inner_text("nav a[data-page='segments']") == "Segments"
        page.fill("#name-en", ENGLISH["name"]["en"])
        page.click("#add-event")
        first = _row(page, 0)
        first.locator("[data-field=type]").select_option("cart_add")
        first.locator("[data-field=category]").fill("라면")
        first.locator("[data-field=days]").fill(str(DAYS))
        page.click("#add-profile")
        second = _row(page, 1)
        second.locator("[data-field=field]").select_option("region")
        second.locator(".pf-text [data-field=value]").fill("서울")
        page.click("#add-consent")
        third = _row(page, 2)
        third.locator("[data-field=channel]").select_option("email")
        page.check("#match-any")
        page.check("#match-all")

        assert _settled(page) == str(expected["count"])
        count = page.inner_text("#preview-count")
        assert count == f"{expected['count']:,} customer" + ("" if expected["count"] == 1 else "s")
        words = page.inner_text("#preview-words-list")
        assert "Added to cart in the category '라면' at least once" in words
        assert "Has advertising consent on email" in words
        page.click("#json-toggle summary")
        page.wait_for_function("document.getElementById('preview-json').textContent.length > 0")
        assert parse_definition(json.loads(page.inner_text("#preview-json"))) == parse_definition(ENGLISH)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(out / "segments-builder-en.png"), full_page=True)

        page.click("#save-segment")
        page.wait_for_url("**/dashboard/segments/*?done=created*")
        assert page.get_attribute("#segment-members", "data-members") == str(expected["count"])
        segment_url = page.url.split("?")[0]
        page.goto(server.url + "/dashboard/segments?lang=en")
        names = [a.inner_text() for a in page.query_selector_all("#saved-segments tbody a")]
        assert ENGLISH["name"]["en"] in names
        page.click(f'#saved-segments a:text-is("{ENGLISH["name"]["en"]}")')
        page.wait_for_url(segment_url)
        assert page.inner_text("#segment-name") == ENGLISH["name"]["en"]
        page.screenshot(path=str(out / "segment-page-en.png"), full_page=True)
        ids = _downloaded_ids(page, tmp_path, "segment-en.csv")
        assert set(ids) == expected["members"]
        browser.close()
    assert not problems, problems
