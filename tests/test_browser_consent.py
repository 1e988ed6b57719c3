"""The tracker's ``shopmind.consent(...)`` in a real browser (Playwright driving Debian's Chromium)
on ``shopmind serve --demo``'s shop: an anonymous visitor's withdrawal is recorded for their
device, their grant is refused (the public write key proves no one), and a member identified with
the signature the shop's server computed grants e-mail advertising."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopmind.store import IdentitySigner, Store, consent_state
from tests.serving import Server
from tests.shops import demo_workspace
from tests.test_browser_demo import ARGS, CHROMIUM

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)


def test_the_tracker_records_consent_within_the_write_keys_limits(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    shop = demo_workspace(tmp_path / "shop", customers=60, days=14)
    member = "m000007"
    signature = IdentitySigner(shop.folder).sign(member)  # what the shop's server hands its page
    server = Server(shop.folder, ("--demo", "--no-recommender")).start()
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(locale="ko-KR")
            # the refused grant's 403 is the one error the browser may report
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type == "error" and "403" not in m.text else None,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{server.url}/demo/")
            page.wait_for_function("window.shopmind && window.shopmind.version")
            anonymous_id = page.evaluate("shopmind.anonymousId()")
            withdrawn = page.evaluate("shopmind.consent({channel: 'sms', granted: false})")
            assert withdrawn["recorded"] is True and set(withdrawn) == {"recorded", "duplicate", "entryId"}
            refused = page.evaluate("shopmind.consent({channel: 'sms', granted: true}).catch(e => e)")
            assert refused["error"] == "forbidden" and refused["errors"][0]["field"] == "userSignature"
            unsigned = page.evaluate(
                "shopmind.identify('m000008').then(() => shopmind.consent({channel: 'email', granted: true}))"
                ".catch(e => e)"
            )
            assert unsigned["error"] == "forbidden"
            granted = page.evaluate(
                f"shopmind.identify('{member}', {{}}, {{signature: '{signature}'}})"
                ".then(() => shopmind.consent({channel: 'email', granted: true, textVersion: '2024-01'}))"
            )
            assert granted["recorded"] is True
            night = page.evaluate(
                "shopmind.consent({channel: 'app_push', granted: false, night: true}).then(r => r.recorded)"
            )
            assert night is True
            page.evaluate("shopmind.flush()")
            browser.close()
    finally:
        assert server.stop() == 0
    assert problems == [], problems
    with Store(shop.folder / "shop.duckdb", read_only=True) as store:
        rows = store.sql(
            "SELECT identifier, channel, purpose, granted, method, text_version FROM consent_ledger "
            "WHERE source = 'api:write' ORDER BY seq"
        )
        assert rows == [
            (f"anon:{anonymous_id}", "sms", "advertising", False, "tracker", None),
            (f"user:{member}", "email", "advertising", True, "tracker", "2024-01"),
            (f"user:{member}", "app_push", "night_advertising", False, "tracker", None),
        ]
        email = consent_state(store, f"user:{member}").channel("email").advertising
        assert email is not None and email.granted and email.method == "tracker"
