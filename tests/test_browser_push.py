"""Web push in a real browser (Playwright driving Debian's Chromium) on a page the real server
serves: ``shopmind.subscribePush()`` registers the server's service worker, subscribes with the
shop's VAPID key and hands the subscription to the server; a push carrying what the web push
channel encrypts is shown by the service worker as a notification (title, body, tag = the
message's key); ``shopmind.unsubscribePush()`` revokes it at the server.

Offline, Chromium cannot reach a push service to make a subscription (it asks Google's), so the
page's ``PushManager`` hands out a subscription the push stand-in issued instead, recording the
key it was asked to subscribe with; and the push is delivered to the service worker through the
DevTools protocol (``ServiceWorker.deliverPushMessage``) with the payload the stand-in decrypted
from the channel's request. Everything else is the browser's own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from shopmind.activation import Message, open_web_push, workspace_vapid_key_path
from shopmind.api._push import LOOPBACK_ENDPOINTS_ENV
from shopmind.store import Workspace
from tests.gateway_standin import Standin
from tests.serving import Server
from tests.test_browser_demo import ARGS, CHROMIUM

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it with apt-get)"
)

PAGE = """<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>봄날상점</title>
<script src="/sdk.js" data-write-key="{key}" data-auto-page="false"></script></head>
<body><h1>봄날상점</h1></body></html>"""

#: the push service the browser would ask, standing in: a subscription the stand-in issued
FAKE_PUSH_SERVICE = """
(() => {
  const issued = %s;
  window.__askedKey = null;
  let current = null;
  const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  PushManager.prototype.subscribe = function (options) {
    window.__askedKey = b64(options.applicationServerKey);
    current = {
      endpoint: issued.endpoint,
      options: { applicationServerKey: options.applicationServerKey.buffer || options.applicationServerKey },
      toJSON: () => issued,
      unsubscribe: () => { current = null; return Promise.resolve(true); },
    };
    return Promise.resolve(current);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
})();
"""


def test_subscribe_push_show_a_notification_and_unsubscribe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv(LOOPBACK_ENDPOINTS_ENV, "1")  # the stand-in push service is on this machine

    (tmp_path / "tls").mkdir()
    standin = Standin(tls_dir=tmp_path / "tls")  # https endpoints, as browsers' are
    server = Server(tmp_path / "shop", ("--no-recommender", "--run-at", "off")).start()
    problems: list[str] = []
    try:
        with server.client(server.write_key) as client:
            vapid = client.get("/v1/push/vapid-key").json()["publicKey"]
        issued = standin.subscribe(application_server_key=vapid)
        # what the web push channel sends for a campaign message, decrypted by the stand-in
        push = open_web_push(
            workspace_vapid_key_path(server.workspace),
            subject="mailto:ops@shop.example",
            verify=str(standin.ca_file),
        )
        message = Message(
            key="c1:anon:x:s1",
            format="web_push",
            to=issued,
            text="봄 신상품이 나왔어요",
            kind="advertising",
            subject="(광고) 봄날상점",
            link_url="https://shop.example/spring",
        )
        assert push.send(message).outcome == "sent"
        push.close()
        payload = standin.web_push.requests[-1]["payload"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            context = browser.new_context(locale="ko-KR")
            context.grant_permissions(["notifications"], origin=server.url)
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.route(
                f"{server.url}/shop.html",
                lambda route: route.fulfill(
                    body=PAGE.format(key=server.write_key), content_type="text/html; charset=utf-8"
                ),
            )
            page.add_init_script(FAKE_PUSH_SERVICE % issued)
            cdp = context.new_cdp_session(page)
            registrations: list[dict[str, Any]] = []
            cdp.on(
                "ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"])
            )
            cdp.send("ServiceWorker.enable")
            page.goto(f"{server.url}/shop.html")
            page.wait_for_function("window.shopmind && window.shopmind.version")
            answer = page.evaluate("shopmind.subscribePush()")
            assert answer == {"stored": True, "duplicate": False, "kind": "web"}
            assert page.evaluate("window.__askedKey") == vapid  # subscribed with the shop's key
            script = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.active.scriptURL)")
            assert script == f"{server.url}/push-sw.js"
            anonymous_id = page.evaluate("shopmind.anonymousId()")
            ids = {r["registrationId"] for r in registrations if not r.get("isDeleted")}
            assert len(ids) == 1, registrations
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {"origin": server.url, "registrationId": ids.pop(), "data": orjson.dumps(payload).decode()},
            )
            shown: list[dict[str, Any]] = []
            deadline = time.monotonic() + 30
            while not shown and time.monotonic() < deadline:
                shown = page.evaluate(
                    "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                    ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))"
                )
                time.sleep(0.1)
            assert shown == [
                {
                    "title": "(광고) 봄날상점",
                    "body": "봄 신상품이 나왔어요",
                    "tag": "c1:anon:x:s1",
                    "data": {"url": "https://shop.example/spring", "key": "c1:anon:x:s1"},
                }
            ]
            assert page.evaluate("shopmind.unsubscribePush()") == {"revoked": 1}
            browser.close()
    finally:
        assert server.stop() == 0, server.output()
        standin.close()
    assert problems == [], problems
    with Workspace(server.workspace).open_store(read_only=True) as store:
        rows = store.sql("SELECT endpoint, identifier, kind, revoked_at IS NOT NULL FROM push_subscriptions")
    assert rows == [(orjson.loads(issued)["endpoint"], f"anon:{anonymous_id}", "web", True)]
