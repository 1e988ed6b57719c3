"""The Experiments pages in a real browser (Playwright driving Debian's Chromium) against ``shopmind
serve`` on a small store with a seeded popup test (free shipping converts more), a test whose
split is broken, and one nobody has met: a marketer writes an experiment in the form, meets the
shares' problem named in Korean, fixes it, saves and starts it; reads the seeded test's results
(each variant's estimate, the lift with its fixed and sequential intervals, the traffic per day,
every chart drawn with data) in Korean and in English; sees the broken split's red banner with no
metric under it; and no page shows NaN or throws a script error.

Then the demo shop's popup experiments after ``shopmind demo-experiments``: the A/B/n test's
traffic spans the simulated days, and each bandit's page reads per decision — its policy values
(the value of always showing each variant, with intervals) drawn, its traffic over the days,
no SRM and no "crossed units" note.

Screenshots (``experiment-form-error-ko.png``, ``experiment-results-ko.png``,
``experiment-results-en.png``, ``experiment-srm-ko.png``, ``experiments-ko.png``,
``demo-popup-abn-ko.png``, ``demo-popup-thompson-ko.png``, ``demo-popup-contextual-ko.png``,
``demo-popup-contextual-en.png``) go to ``SHOPMIND_ARTIFACTS`` (or the test's folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopmind.measure import experiment_results
from shopmind.store import Store, Workspace
from tests import experiment_rows
from tests.serving import Server
from tests.test_browser_dashboard import CHROMIUM, _browser, _charts, _sign_in, artifacts

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)

NEW = """\
id: banner-strategy
name: 배너 추천 방식
point: {kind: recommendations, placement: "*"}
variants:
  - {name: hybrid, strategy: hybrid, share: 0.7}
  - {name: popular, strategy: popularity, share: 0.5}
metrics:
  - {name: clicks, kind: clicks, window_days: 3}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("experiment-browser") / "shop"
    Workspace.init(folder)
    with Store(folder / "shop.duckdb") as store:
        truth = experiment_rows.seed_pages(store)
        oracle = experiment_results(store, "popup-copy")
    server = Server(folder, args=("--no-recommender", "--run-at", "off"))
    password = server.add_user("owner", "owner")
    server.start()
    try:
        yield server, password, {"truth": truth, "oracle": oracle}
    finally:
        assert server.stop() == 0, server.output()


def _no_nan(page: Any) -> None:
    text = page.inner_text("body")
    assert "NaN" not in text and "nan%" not in text.lower() and "undefined" not in text, page.url


def test_write_start_and_read_experiments_in_both_languages(
    shop: tuple[Server, str, dict[str, Any]], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, password, facts = shop
    out = artifacts(tmp_path)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        try:
            _sign_in(page, server, password, "/dashboard/experiments")
            assert page.locator("#experiments tr[data-experiment]").count() == 3
            assert page.get_attribute("tr[data-experiment=popup-copy] [data-units]", "data-units") == "1000"
            page.screenshot(path=str(out / "experiments-ko.png"), full_page=True)

            # the form: the shares add up to 120%, named in Korean next to the text, the text kept
            page.click("#new-experiment")
            page.wait_for_url("**/dashboard/experiments/new")
            page.fill("#experiment-text", NEW)
            page.click("#save-experiment")
            page.wait_for_selector("#problems")
            problem = page.inner_text("#problems li[data-field=variants]")
            assert "변형 비율의 합이 120%로 100%를 넘습니다" in problem
            assert "share: 0.5" in page.input_value("#experiment-text")
            page.screenshot(path=str(out / "experiment-form-error-ko.png"), full_page=True)
            page.fill("#experiment-text", NEW.replace("share: 0.7", "share: 0.5"))
            page.click("#save-experiment")
            page.wait_for_url("**/dashboard/experiments/banner-strategy**")
            assert "초안으로 저장했습니다" in page.inner_text("#done")
            assert page.is_visible("#no-results")
            page.click("#start-experiment")
            page.wait_for_url("**done=started**")
            assert page.get_attribute("#experiment-state", "data-state") == "running"
            assert page.locator("#start-experiment").count() == 0
            _no_nan(page)

            # the seeded test's results, in Korean
            page.goto(server.url + "/dashboard/experiments/popup-copy?lang=ko")
            drawn = _charts(page)
            assert drawn["estimates-m0"] == 2 and drawn["lifts-m0"] == 2 and drawn["traffic-chart"] >= 5, (
                drawn
            )
            assert page.is_visible("#srm-ok") and page.locator("#srm-banner").count() == 0
            conversion = next(m for m in facts["oracle"].metrics if m.metric == "conversion")
            for v in conversion.variants:
                planted = facts["truth"][v.variant]
                assert v.value == pytest.approx(planted["converted"] / planted["units"])
                cell = page.inner_text(f"#metric-m0 .per-variant tr[data-variant={v.variant}] [data-k=value]")
                assert cell == f"{100 * v.value:.2f}%"
            (comparison,) = conversion.comparisons
            row = page.inner_text("#metric-m0 .comparisons tr[data-variant=free-shipping]")
            assert comparison.relative is not None and f"{100 * comparison.relative.estimate:+.1f}%" in row
            assert "순차 검정 구간" in page.inner_text("#metric-m0")
            _no_nan(page)
            page.screenshot(path=str(out / "experiment-results-ko.png"), full_page=True)

            # the same in English
            page.goto(server.url + "/dashboard/experiments/popup-copy?lang=en")
            drawn = _charts(page)
            assert all(n > 0 for n in drawn.values()), drawn
            assert "Sample ratio check passed" in page.inner_text("#results")
            assert "Sequential interval" in page.inner_text("#metric-m0")
            _no_nan(page)
            page.screenshot(path=str(out / "experiment-results-en.png"), full_page=True)

            # a broken split: the red banner, no metric
            page.goto(server.url + "/dashboard/experiments/broken-split?lang=ko")
            page.wait_for_selector("#srm-banner")
            assert "결과를 숨겼습니다" in page.inner_text("#srm-banner")
            assert page.locator(".card.metric").count() == 0
            _no_nan(page)
            page.screenshot(path=str(out / "experiment-srm-ko.png"), full_page=True)

            # nobody met it yet: a note, no numbers, nothing broken
            page.goto(server.url + "/dashboard/experiments/nobody-yet?lang=en")
            assert "No exposures yet" in page.inner_text("#results")
            assert page.locator(".card.metric").count() == 0
            _no_nan(page)
        finally:
            browser.close()
    # the form answered the bad text with a 400 (as it should): the browser logs that status
    unexpected = [p for p in problems if not ("/experiments/new" in p and "status of 400" in p)]
    assert not unexpected, unexpected


DEMO_DAYS = 10


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    import os
    import subprocess
    import sys

    from shopmind.pipeline import load_demo_shop

    folder = tmp_path_factory.mktemp("demo-experiment-browser") / "shop"
    with Workspace.init(folder).open_store() as store:
        load_demo_shop(store, customers=300, days=40, seed=3)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopmind",
            "demo-experiments",
            "--workspace",
            str(folder),
            "--days",
            str(DEMO_DAYS),
            "--per-day",
            "150",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    server = Server(folder, args=("--no-recommender", "--run-at", "off"))
    password = server.add_user("owner", "owner")
    server.start()
    try:
        yield server, password
    finally:
        assert server.stop() == 0, server.output()


def test_the_demo_experiments_pages_read_bandits_per_decision(
    demo: tuple[Server, str], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    server, password = demo
    out = artifacts(tmp_path)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser, page = _browser(pw, problems)
        try:
            _sign_in(page, server, password, "/dashboard/experiments/demo-popup-abn?lang=ko")
            drawn = _charts(page)
            # four variants a day over the simulated days (local days: the first may be cut)
            assert drawn["traffic-chart"] >= 4 * (DEMO_DAYS - 1), drawn
            assert page.is_visible("#srm-ok") and page.locator(".card.metric").count() == 2
            assert page.locator("#policy-values").count() == 0
            _no_nan(page)
            page.screenshot(path=str(out / "demo-popup-abn-ko.png"), full_page=True)

            for experiment, lang in (
                ("demo-popup-thompson", "ko"),
                ("demo-popup-contextual", "ko"),
                ("demo-popup-contextual", "en"),
            ):
                page.goto(server.url + f"/dashboard/experiments/{experiment}?lang={lang}")
                drawn = _charts(page)
                assert drawn["policy-values-chart"] >= 3, (experiment, drawn)
                assert drawn["traffic-chart"] >= 4 * (DEMO_DAYS - 1), (experiment, drawn)
                assert page.get_attribute("#policy-values", "data-decisions") == str(DEMO_DAYS * 150)
                rows = page.locator("#policy-values-table tbody tr")
                assert rows.count() == 4
                values = page.locator("#policy-values-table [data-k=value]").all_inner_texts()
                assert sum("%" in v for v in values) >= 3, values
                assert page.locator("#srm-ok, #srm-banner, #srm").count() == 0
                assert page.locator(".card.metric").count() == 0
                text = page.inner_text("body")
                if lang == "ko":
                    assert "결정 단위" in text and "항상 보여 줄 때의 예상 성과" in text
                    assert "변형 두 개 이상에 노출" not in text
                else:
                    assert "per decision" in text and "Value if always shown" in text
                    assert "more than one variant" not in text
                _no_nan(page)
                page.screenshot(path=str(out / f"{experiment}-{lang}.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems
