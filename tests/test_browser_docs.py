"""``/docs`` in Chromium with no way out of loopback: Swagger UI is served by shopmind itself, so the
API's documentation renders its operations on a machine without internet access."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serving import Server
from tests.test_browser_dashboard import ARGS, CHROMIUM, artifacts

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)


def test_docs_render_offline_from_local_assets(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    server = Server(tmp_path / "shop").start()
    outside: list[str] = []
    problems: list[str] = []
    try:
        html = httpx.get(f"{server.url}/docs").text
        assert "cdn.jsdelivr.net" not in html and "/docs/assets/swagger-ui-bundle.js" in html
        assert httpx.get(f"{server.url}/docs/assets/..%2Fcore.py").status_code == 404
        assert httpx.get(f"{server.url}/redoc").status_code == 404  # it would need a CDN

        def only_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{server.url}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
            page.screenshot(path=str(artifacts(tmp_path) / "api-docs.png"), full_page=False)
            browser.close()
    finally:
        assert server.stop() == 0
    assert not outside, f"requests left loopback: {outside}"
    assert not problems, problems
    assert {"/v1/track", "/v1/batch", "/v1/decide"} <= {p.replace("\u200b", "") for p in paths}, paths
