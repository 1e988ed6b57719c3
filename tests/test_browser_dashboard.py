"""The dashboard in a real browser (Playwright driving Debian's Chromium) against ``shopmind serve``
on a synthetic shop whose every job has run (customer intelligence twice, for movement): every
page signs in with an account, renders its charts with data and no console error, in Korean and
in English; the purchase-probability band selection gives the count the store holds, the audience
CSV has as many rows and a saved audience as many members; an owner makes an account on the
Users page and signs out. Screenshots of each page go to ``SHOPMIND_ARTIFACTS``
(or the test's folder)."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopmind.store import Store, log_decisions, log_outcomes, trigger_performance
from tests.serving import Server
from tests.shops import understood_workspace

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = ("overview", "customers", "predictions", "customer", "products", "onsite")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    folder = understood_workspace(tmp_path_factory.mktemp("dashboard") / "shop")
    with Store(folder / "shop.duckdb") as store:
        facts = _facts(store)
        _decisions(store)
        # the demo's simulated on-site traffic and the decisions above, as the store counts them
        facts["coupon"] = {row["trigger_id"]: row for row in trigger_performance(store)}[
            "first-purchase-coupon"
        ]
    server = Server(folder)
    facts["owner_password"] = server.add_user("owner", "owner")
    server.start()
    for _ in range(240):  # the recommender learns in the background: the 360° page shows its picks
        if httpx.get(f"{server.url}/readyz").json().get("recommender") != "training":
            break
        import time

        time.sleep(0.5)
    try:
        yield server, facts
    finally:
        assert server.stop() == 0


def _facts(store: Store) -> dict[str, Any]:
    """What the pages must show, read from the store directly (the oracle)."""
    members = store.scalar("SELECT count(DISTINCT profile_id) FROM profiles WHERE kind = 'user'")
    run = store.sql(
        "SELECT run_id FROM job_runs WHERE job = 'customer_intelligence' ORDER BY as_of DESC LIMIT 1"
    )[0][0]
    vip = store.sql(
        "SELECT profile_id FROM segment_members WHERE run_id = ? AND segment = 'vip' ORDER BY 1 LIMIT 1",
        [run],
    )[0][0]
    purchase = store.sql(
        "SELECT s.run_id, s.name FROM scores s JOIN job_runs r USING (run_id) "
        "WHERE r.job = 'purchase_probability' LIMIT 1"
    )[0]
    values = [
        v for (v,) in store.sql("SELECT value FROM scores WHERE run_id = ? AND name = ?", list(purchase))
    ]
    segments = dict(
        store.sql("SELECT segment, count(*) FROM segment_members WHERE run_id = ? GROUP BY 1", [run])
    )
    product = store.sql("SELECT product_id FROM order_lines GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0][
        0
    ]
    return {"members": members, "vip": vip, "probabilities": values, "segments": segments, "product": product}


def _decisions(store: Store) -> None:
    at = datetime(2026, 3, 31, 12, tzinfo=UTC)
    rows = [
        {
            "decision_id": f"d{i}",
            "decided_at": at + timedelta(minutes=i),
            "visitor": f"v{i}",
            "trigger_id": "first-purchase-coupon" if i < 6 else "cart-abandonment",
            "action": "popup" if i < 6 else "slide_in",
            "placement": "popup",
        }
        for i in range(10)
    ]
    log_decisions(store, rows)
    outcomes = [{"decision_id": f"d{i}", "outcome": "shown", "outcome_at": at} for i in range(8)]
    outcomes += [{"decision_id": "d0", "outcome": "clicked", "outcome_at": at}]
    outcomes += [{"decision_id": "d0", "outcome": "converted", "outcome_at": at, "revenue": 12900.0}]
    log_outcomes(store, outcomes)


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SHOPMIND_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _browser(pw: Any, problems: list[str]) -> tuple[Any, Any]:
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="ko-KR", accept_downloads=True
    )
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    return browser, page


def _sign_in(
    page: Any, server: Server, password: str, target: str = "/dashboard/overview", login: str = "owner"
) -> None:
    page.goto(server.url + target)
    page.wait_for_url("**/dashboard/login**")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(f"**{target}*")


def _charts(page: Any) -> dict[str, int]:
    """Each chart on the page and how many data points its traces draw (0: empty or not drawn)."""
    page.wait_for_selector("body[data-ready='1']")
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map(el => [el.id,
            (el.data || []).reduce((n, t) => n + ((t.y || t.values || (t.link && t.link.value) || []).length), 0)
            * (el.querySelector('.main-svg') ? 1 : 0)]))"""
    )


def test_every_page_renders_its_charts_with_data_in_korean_and_english(
    shop: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    problems: list[str] = []
    out = artifacts(tmp_path)
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["owner_password"])
        visits = [(slug, f"/dashboard/{slug}") for slug in PAGES]
        visits[3] = ("customer", f"/dashboard/customer?id={facts['vip']}")
        visits.insert(2, ("segment", "/dashboard/customers/segment/vip"))
        visits.append(("product", f"/dashboard/products/{facts['product']}"))
        expected_charts = {
            "overview": {"trend", "pareto"},
            "customers": {"segment-map", "movement"},
            "predictions": {"clv", "purchase", "churn"},
            "onsite": {"triggers"},
            "customer": {"hours"},
        }
        for slug, url in visits:
            page.goto(server.url + url)
            charts = _charts(page)
            assert expected_charts.get(slug, set()) <= set(charts), (slug, charts)
            empty = [name for name, points in charts.items() if points == 0]
            assert not empty, f"{slug}: charts without data {empty}"
            page.screenshot(path=str(out / f"dashboard-{slug}-ko.png"), full_page=True)
        # the numbers are the store's
        page.goto(server.url + "/dashboard/overview")
        assert page.inner_text("#members").replace(",", "") == str(facts["members"])
        _charts(page)  # the date axis as drawn: numbers, never English month names on a Korean page
        ticks = " ".join(t.text_content() or "" for t in page.query_selector_all("#trend .xtick text"))
        assert ticks and not re.search(r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec", ticks), ticks
        page.goto(server.url + "/dashboard/customers")
        for segment, count in facts["segments"].items():
            row = page.query_selector(f"#segments tr[data-segment='{segment}'] td.num")
            if row is not None:
                assert row.inner_text().replace(",", "") == str(count), segment
        rules = page.inner_text("#segments")
        assert "구매 없음" in rules and "purchase" not in rules, "the rules are in Korean"
        page.goto(server.url + "/dashboard/customer?id=" + facts["vip"])
        assert page.inner_text("#profile-id").startswith(facts["vip"])
        assert page.query_selector_all("#recommendations li"), "the 360° page shows live recommendations"
        assert page.query_selector_all("#timeline tbody tr")
        assert "%EA" not in page.inner_text("#timeline"), "URLs are shown decoded (Korean search words)"
        page.goto(server.url + "/dashboard/products")  # the explorer: another region, cold and early
        page.select_option("#explore-region", index=1)
        page.fill("#explore-temp", "-5")
        page.click("#explore-submit")
        page.wait_for_url("**temp_c=-5**")
        assert len(page.query_selector_all("#explore-context li")) == 8
        assert page.query_selector_all("#explore-context .reason")
        page.goto(server.url + "/dashboard/products?hour=25&temp_c=&precip_mm=")  # a wrong hour is named
        assert "'25'" in page.inner_text(".explore-problem")
        assert len(page.query_selector_all("#explore-plain li")) == 8
        page.goto(server.url + "/dashboard/onsite")
        coupon = "#triggers tr[data-trigger='first-purchase-coupon']"
        for count in ("served", "converted"):
            shown = page.inner_text(f"{coupon} [data-count='{count}']").replace(",", "")
            assert shown == str(facts["coupon"][count]), count
        assert facts["coupon"]["served"] >= 6 and facts["coupon"]["converted"] >= 1

        # Korean text is drawn with a Korean font, not as boxes: the glyph of 한 differs from
        # the box an unassigned code point gets in the same font
        assert page.evaluate(
            """() => { const draw = ch => { const c = document.createElement('canvas'); c.width = c.height = 40;
                const g = c.getContext('2d'); g.font = '32px ' + getComputedStyle(document.body).fontFamily;
                g.fillText(ch, 2, 34); return c.toDataURL(); };
                return draw('한') !== draw('\\u0378') && draw('한') !== draw('글'); }"""
        )
        assert page.inner_text("nav a[data-page='overview']") == "개요"

        # English, remembered from page to page, and back
        page.click("#lang-switch")
        page.wait_for_selector("html[lang='en']")
        assert page.inner_text("nav a[data-page='overview']") == "Overview"
        assert page.inner_text("h1") == "On-site"
        for slug, url in visits:
            page.goto(server.url + url)
            _charts(page)
            assert page.get_attribute("html", "lang") == "en"
            page.screenshot(path=str(out / f"dashboard-{slug}-en.png"), full_page=True)
        assert page.inner_text("nav a[data-page='customers']") == "Customers"
        page.click("#lang-switch")
        page.wait_for_selector("html[lang='ko']")
        assert page.inner_text("nav a[data-page='customers']") == "고객 세그먼트"
        browser.close()
    assert problems == [], problems


def _between(values: list[float], low: float, high: float) -> int:
    return sum(1 for v in values if low <= v < high or (high >= 1.0 and v == 1.0 and low <= v))


def test_band_selection_counts_exports_and_saves_the_audience(
    shop: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    values = facts["probabilities"]
    problems: list[str] = []
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        _sign_in(page, server, facts["owner_password"], "/dashboard/predictions")
        _charts(page)
        assert page.inner_text("#band-count").replace(",", "") == str(len(values))

        # a click on the second band's bar picks 5%–10%
        bars = page.query_selector_all("#purchase .bars .point path")
        assert len(bars) == 20
        box = bars[1].bounding_box()  # plotly's drag layer takes the pointer: click where the bar is
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function("document.getElementById('band-low').value === '5'")
        page.wait_for_function("!document.getElementById('audience').hasAttribute('data-busy')")
        assert page.input_value("#band-high") == "10"
        assert page.inner_text("#band-count").replace(",", "") == str(_between(values, 0.05, 0.10))

        # a typed range
        page.fill("#band-low", "20")
        page.fill("#band-high", "60")
        expected = _between(values, 0.20, 0.60)
        assert expected > 0, "the synthetic shop has profiles between 20% and 60%"
        page.wait_for_function(
            f"document.getElementById('band-count').textContent.replace(/,/g, '') === '{expected}'"
        )
        with page.expect_download() as download:
            page.click("#export-csv")
        path = tmp_path / "audience.csv"
        download.value.save_as(path)
        with path.open(encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == expected
        assert all(0.20 <= float(r[next(iter(r.keys() - {"profile_id", "member_id"}))]) < 0.60 for r in rows)

        page.fill("#audience-name", "구매 가능성 20-60%")
        page.click("#save-audience")
        page.wait_for_selector(f"#save-result[data-size='{expected}']")
        page.screenshot(path=str(artifacts(tmp_path) / "dashboard-predictions-band.png"), full_page=False)
        browser.close()
    assert problems == [], problems
    with httpx.Client(base_url=server.url) as client:  # the page lists it after a reload
        page_html = client.get(
            "/dashboard/predictions", headers={"Authorization": f"Bearer {server.secret_key}"}
        ).text
        assert "구매 가능성 20-60%" in page_html


def test_the_dashboard_needs_an_account(shop: tuple[Server, dict[str, Any]]) -> None:
    server, facts = shop
    with httpx.Client(base_url=server.url) as client:
        html = {"Accept": "text/html"}
        answer = client.get("/dashboard/overview", headers=html)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login")
        assert client.get("/dashboard/predictions/audience?low=0&high=1").status_code == 401
        form = client.get("/dashboard/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert token
        for password in (server.write_key, server.secret_key):  # keys are not passwords
            wrong = client.post(
                "/dashboard/login", data={"login": "owner", "password": password, "login_token": token[1]}
            )
            assert wrong.status_code == 401
        right = client.post(
            "/dashboard/login",
            data={
                "login": "owner",
                "password": facts["owner_password"],
                "next": "https://evil.example/",
                "login_token": token[1],
            },
        )
        assert right.status_code == 303 and right.headers["location"] == "/dashboard/overview"
        assert client.get("/dashboard/overview", headers=html).status_code == 200  # the cookie
        assert client.get("/dashboard/static/plotly.min.js").status_code == 200


def test_an_owner_makes_an_account_and_signs_out_in_the_browser(
    shop: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, facts = shop
    problems: list[str] = []
    out = artifacts(tmp_path)
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        page.goto(server.url + "/dashboard/login")
        page.screenshot(path=str(out / "dashboard-login-ko.png"))
        _sign_in(page, server, facts["owner_password"], "/dashboard/users")
        assert page.inner_text("#signed-in-as") == "owner · 소유자"
        page.fill("#new-login", "kim.marketer")
        page.fill("#new-name", "김마케터")
        page.select_option("#new-role", "marketer")
        page.fill("#new-password", "marketing-2026")
        page.click("#create-user")
        page.wait_for_selector("#users-done")
        row = "#users tr[data-login='kim.marketer']"
        assert page.inner_text(f"{row} td:nth-child(2)") == "김마케터"
        assert page.input_value(f"{row} select[name=role]") == "marketer"
        page.screenshot(path=str(out / "dashboard-users-ko.png"), full_page=True)
        page.goto(server.url + "/dashboard/users?lang=en")
        page.screenshot(path=str(out / "dashboard-users-en.png"), full_page=True)
        page.goto(server.url + "/dashboard/users?lang=ko")
        page.click("#logout")
        page.wait_for_url("**/dashboard/login**")
        page.goto(server.url + "/dashboard/overview")
        page.wait_for_url("**/dashboard/login**")  # the session ended on the server

        # the new marketer signs in; the Users page is not in the navigation and refuses them
        _sign_in(page, server, "marketing-2026", "/dashboard/overview", "kim.marketer")
        assert page.query_selector("nav a[data-page='users']") is None
        assert page.inner_text("#signed-in-as") == "김마케터 · 마케터"
        answer = page.goto(server.url + "/dashboard/users")
        assert answer is not None and answer.status == 403
        assert page.get_attribute("#forbidden", "data-reason") == "role"
        browser.close()
    assert problems == [] or all("403" in p for p in problems), problems
