"""The Campaigns pages in a real browser (Playwright driving Debian's Chromium) against ``shopmind
serve`` on the synthetic shop (its consent ledger, every job run): a marketer creates a campaign
with the form (audience, a text message and an e-mail, a coupon, a holdout), meets a problem named
next to its field, reads the live preview's message for a sample customer, saves it, reviews what
will go out and who is left out, and schedules it; in Korean, then another in English.

Checked against the library once the server has stopped: the preview's message is
``activation.preview``'s for that customer, and the review's counts are ``plan_campaign``'s. Then
rows of what happened next (messages sent, delivered, opened and clicked; orders by treated and
holdout customers) go into the store, the server starts again, and the results page shows the
step's figures and the uplift ``campaign_results`` computes, with its chart and its words.

Screenshots (``campaign-create-ko.png``, ``campaign-review-ko.png``, ``campaign-results-ko.png``
and the ``-en`` ones) go to ``SHOPMIND_ARTIFACTS`` (or the test's folder)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopmind.activation import (
    Template,
    campaign_results,
    default_channel_config,
    holdout_key,
    plan_campaign,
    preview,
    stored_definition,
)
from shopmind.store import HASH_KEY_FILE, MessageEvent, Store, get_campaign, record_message_events
from tests.campaign_rows import add_orders
from tests.serving import Server
from tests.shops import understood_workspace
from tests.test_browser_dashboard import CHROMIUM, _browser, _sign_in, artifacts

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)

KOREAN = {
    "name": "휴면 고객 다시 부르기",
    "segments": ["dormant_vip", "about_to_churn", "hibernating", "needs_attention"],
    "sms": "{{ name_or_customer }}님, 오랜만이에요! {{ segment_name }} 고객님께 드리는 쿠폰 {{ coupon }}",
    "subject": "{{ name_or_customer }}님을 위한 복귀 쿠폰",
    "email": "{{ favourite_category }} 새 상품이 들어왔어요.\n쿠폰 {{ coupon }}: {{ link('https://shop.example/coupon') }}",
    "coupon": "COME-{code}",
}
ENGLISH = {
    "name": "Spring welcome back",
    "sms": "Hi {{ name_or_customer }}, we saved you a coupon: {{ coupon }}",
    "coupon": "SPRING-{code}",
}


def _settled(page: Any) -> None:
    """The preview's answer to the latest change has arrived."""
    page.wait_for_function(
        "() => { const p = document.getElementById('campaign-preview');"
        " return !p.hasAttribute('data-busy') && p.hasAttribute('data-done'); }"
    )


def _message(page: Any, channel: str) -> dict[str, Any]:
    card = page.locator(f"#preview-messages .message[data-channel={channel}]")
    return {
        "text": card.locator(".message-text").inner_text(),
        "subject": card.locator(".message-subject").inner_text() if channel == "email" else None,
        "format": card.get_attribute("data-format"),
        "bytes": int(card.get_attribute("data-bytes") or 0),
        "lawful": card.locator(".lawful").count() == 1,
    }


def _tiles(page: Any) -> dict[str, int]:
    found = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#review-tiles [data-count]')]"
        ".map(e => [e.getAttribute('data-count'), e.textContent]))"
    )
    return {k: int(v.replace(",", "")) for k, v in found.items() if k != "cost"}


def _why(page: Any) -> dict[str, int]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#why tr[data-reason]')]"
        ".map(r => [r.getAttribute('data-reason'), Number(r.querySelector('[data-n]').getAttribute('data-n'))]))"
    )


def _create_korean(page: Any, out: Path) -> dict[str, Any]:
    page.click("#new-campaign")
    page.wait_for_url("**/dashboard/campaigns/new")
    page.fill("#campaign-name", KOREAN["name"])
    for key in KOREAN["segments"]:
        page.check(f"input[name=aud-rfm][value={key}]")
    step = page.locator("#steps > li").first
    step.locator("[data-s=coupon]").fill(KOREAN["coupon"])
    step.locator("fieldset[data-channel=sms] textarea").fill(KOREAN["sms"])
    step.locator("[data-use=email]").check()
    step.locator("fieldset[data-channel=email] [data-m=subject]").fill(KOREAN["subject"])
    # a typo first: named next to its field, in Korean
    step.locator("fieldset[data-channel=email] textarea").fill("{{ favourit_category }} 새 상품")
    _settled(page)
    error = step.locator(".field-error[data-for='.messages.email.text']")
    assert (
        error.inner_text() == "1번째 줄: 'favourit_category' 항목은 없습니다. 아래 목록에 있는 항목을 쓰세요."
    )
    assert page.is_visible("#preview-problem")
    step.locator("fieldset[data-channel=email] textarea").fill(KOREAN["email"])
    page.fill("#holdout", "20")
    _settled(page)
    assert error.inner_text() == ""
    assert page.locator("#preview-messages .message").count() == 2
    page.select_option("#sample", index=2)  # another sample customer: their own message
    _settled(page)
    shown = {
        "sample": page.input_value("#sample"),
        "audience": int(page.get_attribute("#audience-count", "data-count") or 0),
        "sms": _message(page, "sms"),
        "email": _message(page, "email"),
    }
    assert page.inner_text("#audience-count") == f"대상 고객 {shown['audience']:,}명"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out / "campaign-create-ko.png"), full_page=True)
    page.click("#save-campaign")
    page.wait_for_url("**/dashboard/campaigns/c_*?done=created")
    shown["id"] = re.search(r"/campaigns/(c_[0-9a-f]+)", page.url)[1]  # type: ignore[index]
    shown["reviewed_at"] = datetime.now(UTC)
    shown["tiles"] = _tiles(page)
    shown["why"] = _why(page)
    examples = page.locator("#why a.example")
    assert examples.count() > 0 and "/dashboard/customer?id=" in (examples.first.get_attribute("href") or "")
    page.screenshot(path=str(out / "campaign-review-ko.png"), full_page=True)
    page.click("#schedule-campaign")
    page.wait_for_url("**done=scheduled**")
    shown["done"] = page.inner_text("#done")
    assert page.inner_text("#campaign-state") == "예약됨"
    return shown


def _create_english(page: Any, out: Path) -> dict[str, Any]:
    page.goto(page.url.split("/dashboard/")[0] + "/dashboard/campaigns/new?lang=en")
    page.fill("#campaign-name", ENGLISH["name"])
    page.check("#aud-band")
    page.select_option("#aud-score", "churn_risk")
    page.fill("#aud-low", "90")
    page.fill("#aud-high", "40")  # wrong on purpose
    step = page.locator("#steps > li").first
    step.locator("[data-s=coupon]").fill(ENGLISH["coupon"])
    step.locator("fieldset[data-channel=sms] textarea").fill(ENGLISH["sms"])
    _settled(page)
    assert page.inner_text(".field-error[data-for='audience.high']") == "From must be below To."
    page.fill("#aud-low", "40")
    page.fill("#aud-high", "100")
    page.check("#send-fixed")
    page.fill("#send-hour", "19")
    _settled(page)
    assert page.inner_text(".field-error[data-for='audience.high']") == ""
    shown = {"sample": page.input_value("#sample"), "sms": _message(page, "sms")}
    assert shown["sms"]["text"].startswith("(광고)")  # the law's words, whatever the language
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out / "campaign-create-en.png"), full_page=True)
    page.click("#save-campaign")
    page.wait_for_url("**/dashboard/campaigns/c_*?done=created")
    shown["id"] = re.search(r"/campaigns/(c_[0-9a-f]+)", page.url)[1]  # type: ignore[index]
    shown["tiles"] = _tiles(page)
    page.screenshot(path=str(out / "campaign-review-en.png"), full_page=True)
    return shown


def _what_happened(store: Store, campaign_id: str) -> None:
    """The sender's and the customers' part, a day later: every queued message sent an hour after
    the campaign started, half of them delivered and opened, a third clicked; orders by a share
    of the treated and of the holdout members within the attribution window."""
    store.sql(
        "UPDATE campaign_members SET entered_at = entered_at - INTERVAL 1 DAY WHERE campaign_id = ?",
        [campaign_id],
    )
    start = store.scalar("SELECT min(entered_at) FROM campaign_members WHERE campaign_id = ?", [campaign_id])
    keys = [
        k
        for (k,) in store.sql(
            "SELECT message_key FROM outbox WHERE campaign_id = ? ORDER BY 1", [campaign_id]
        )
    ]
    sent_at = start + timedelta(hours=1)
    # as the sender records a hand-over (claimed, then sent)
    store.sql(
        "UPDATE outbox SET state = 'sent', attempts = 1, sent_at = ?, updated_at = ?, provider_id = 'p-' || left(message_key, 8) "
        "WHERE campaign_id = ?",
        [sent_at, sent_at, campaign_id],
    )
    events = [MessageEvent("delivered", sent_at + timedelta(minutes=1), key) for key in keys[::2]]
    events += [MessageEvent("opened", sent_at + timedelta(minutes=5), key) for key in keys[::2]]
    events += [
        MessageEvent("clicked", sent_at + timedelta(minutes=6), key, detail={"link": 0}) for key in keys[::3]
    ]
    record_message_events(store, events)
    members = store.sql(
        "SELECT profile_id, arm FROM campaign_members WHERE campaign_id = ? AND profile_id LIKE 'user:%' ORDER BY 1",
        [campaign_id],
    )
    buyers = [p for i, (p, arm) in enumerate(members) if i % (4 if arm == "treated" else 7) == 0]
    add_orders(
        store,
        [
            (f"o-camp-{i}", p.removeprefix("user:"), sent_at + timedelta(hours=2), 20_000.0 + 1_000 * (i % 9))
            for i, p in enumerate(buyers)
        ],
    )


def test_create_preview_schedule_and_read_the_results_of_a_campaign(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from playwright.sync_api import sync_playwright

    folder = understood_workspace(tmp_path_factory.mktemp("campaigns-browser") / "shop", customers=600)
    server = Server(folder, args=("--no-recommender",))
    password = server.add_user("marketer", "marketer")
    out = artifacts(tmp_path_factory.mktemp("shots"))
    problems: list[str] = []
    server.start()
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        try:
            _sign_in(page, server, password, "/dashboard/campaigns", login="marketer")
            assert page.inner_text("nav a[data-page='campaigns']") == "캠페인"
            assert page.query_selector("#no-campaigns") is not None
            korean = _create_korean(page, out)
            english = _create_english(page, out)
        finally:
            assert server.stop() == 0

        # the oracle: the library on the same store
        sender = default_channel_config().sender
        with Store(folder / "shop.duckdb") as store:
            for lang, shown, texts in (("ko", korean, KOREAN), ("en", english, ENGLISH)):
                (expected,) = preview(
                    store,
                    Template(text=texts["sms"], locale=lang),
                    [shown["sample"]],
                    "sms",
                    "advertising",
                    sender,
                    as_of=datetime.now(UTC),
                    coupon=texts["coupon"],
                )
                assert shown["sms"]["text"] == expected.draft.text, lang
                assert (
                    shown["sms"]["format"] == expected.format
                    and shown["sms"]["bytes"] == expected.carrier_bytes
                )
                assert shown["sms"]["lawful"] and not expected.violations
            (email,) = preview(
                store,
                Template(text=KOREAN["email"], subject=KOREAN["subject"]),
                [korean["sample"]],
                "email",
                "advertising",
                sender,
                as_of=datetime.now(UTC),
                coupon=KOREAN["coupon"],
            )
            assert (
                korean["email"]["text"] == email.draft.text
                and korean["email"]["subject"] == email.draft.subject
            )

            key = holdout_key(bytes.fromhex((folder / HASH_KEY_FILE).read_text().strip()))
            stored = get_campaign(store, korean["id"])
            plan = plan_campaign(
                store,
                stored_definition(stored),
                stored.campaign_id,
                at=korean["reviewed_at"],
                key=key,
                sender=sender,
            )
            counts = plan.counts
            assert korean["tiles"] == {
                "members": counts.members,
                "treated": counts.treated,
                "holdout": counts.holdout,
                "planned": counts.planned,
                "deferred": counts.deferred,
                "excluded": sum(counts.excluded.values()),
            }
            assert korean["audience"] == counts.members
            expected_why = {e.reason: e.count for e in plan.why_excluded()}
            if counts.deferred:
                expected_why["night_deferred"] = counts.deferred
            assert korean["why"] == expected_why and expected_why
            queued = store.scalar("SELECT count(*) FROM outbox WHERE campaign_id = ?", [korean["id"]])
            assert queued == counts.planned
            assert korean["done"] == (
                f"예약했습니다. 대상 고객 {counts.members:,}명을 기록하고 메시지 {counts.planned:,}건을 발송함에 넣었습니다."
            )
            english_stored = get_campaign(store, english["id"])
            assert english_stored.state == "draft"
            english_plan = plan_campaign(
                store,
                stored_definition(english_stored),
                english["id"],
                at=datetime.now(UTC),
                key=key,
                sender=sender,
            )
            assert english["tiles"]["members"] == english_plan.counts.members
            assert english["tiles"]["planned"] == english_plan.counts.planned

            _what_happened(store, korean["id"])
            expected_results = campaign_results(store, korean["id"], as_of=datetime.now(UTC))
        step = expected_results.steps[0]
        up = expected_results.uplift
        assert step.sent == counts.planned and step.opened > 0 and up.treated.conversions > 0

        server.start()
        try:
            page.goto(f"{server.url}/dashboard/campaigns/{korean['id']}/results?lang=ko")
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("#uplift-chart .main-svg")
            cells = page.evaluate(
                "() => Object.fromEntries([...document.querySelectorAll('#steps-table td[data-k]')]"
                ".map(td => [td.getAttribute('data-k'), td.childNodes[0].textContent.trim()]))"
            )
            assert cells["sent"] == f"{step.sent:,}" and cells["opened"] == f"{step.opened:,}"
            assert cells["clicked"] == f"{step.clicked:,}" and cells["converted"] == f"{step.converted:,}"
            assert cells["revenue"] == f"{step.revenue:,.0f}원"
            words = page.inner_text("#uplift-words")
            assert up.conversion is not None
            d = abs(100 * up.conversion.estimate)
            direction = "높았습니다" if up.conversion.estimate >= 0 else "낮았습니다"
            assert f"메시지를 받은 고객의 구매율이 대조군보다 {d:.1f}%p {direction}" in words
            assert f"95% 구간 {100 * up.conversion.low:.1f}%p ~ {100 * up.conversion.high:.1f}%p" in words
            arms = page.inner_text("#arms")
            assert f"발송 그룹: 고객 {up.treated.n:,}명 중 {up.treated.conversions:,}명 구매" in arms
            assert f"대조군: 고객 {up.holdout.n:,}명 중 {up.holdout.conversions:,}명 구매" in arms
            bars = page.evaluate("() => document.getElementById('uplift-chart').data.map(t => t.y.length)")
            assert bars == [2, 2]
            page.screenshot(path=str(out / "campaign-results-ko.png"), full_page=True)
            page.goto(f"{server.url}/dashboard/campaigns/{korean['id']}/results?lang=en")
            page.wait_for_selector("#uplift-chart .main-svg")
            assert "Customers who got the message bought" in page.inner_text("#uplift-words")
            page.screenshot(path=str(out / "campaign-results-en.png"), full_page=True)
            page.goto(f"{server.url}/dashboard/campaigns?lang=ko")
            row = page.locator(f"tr[data-campaign={korean['id']}]")
            assert row.get_attribute("data-state") == "scheduled"
            assert f"{up.treated.n:,} / {up.holdout.n:,}" in row.inner_text()
        finally:
            browser.close()
            assert server.stop() == 0
    assert not problems, problems
