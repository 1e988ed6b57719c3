"""Profiles, recommendations and on-site decisions against a real ``shopmind serve`` on loopback,
on a small synthetic shop whose customers have been understood (segments, CLV, VIPs): scopes,
the 360° profile, recommendations in context with reasons, related items (the shop's planted
complements as the oracle), live sessions fed by collected events, the built-in triggers,
frequency caps, the decision log and its outcomes (conversion included), and /sdk.js."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shopmind.onsite import DEFAULT_TRIGGERS
from shopmind.store import IdentitySigner
from tests.serving import Server
from tests.shops import Shop, demo_workspace


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    found = demo_workspace(tmp_path_factory.mktemp("onsite") / "shop")
    # these tests follow what each trigger shows: no holdout (by default a tenth of the qualifying
    # visitors are shown nothing; tests/test_onsite_experiments.py follows the holdout)
    no_holdout = DEFAULT_TRIGGERS.replace("\npriority = ", "\nholdout = 0\npriority = ")
    (found.folder / "triggers.toml").write_text(no_holdout, encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def server(shop: Shop) -> Iterator[Server]:
    running = Server(shop.folder, ("--demo",)).start()
    deadline = time.monotonic() + 240
    with running.client() as c:  # the recommender learns in the background
        while c.get("/readyz").json()["recommender"] == "training" and time.monotonic() < deadline:
            time.sleep(0.5)
    yield running
    running.stop()


class Visitor:
    """A browser's worth of events, sent through the collection API with the write key."""

    def __init__(self, client: httpx.Client, user_id: str | None = None) -> None:
        self.client = client
        self.anonymous_id = f"visitor-{uuid.uuid4().hex[:10]}"
        self.user_id = user_id
        self.at = datetime.now(UTC) - timedelta(minutes=5)

    def send(self, body: dict[str, Any], after: float = 1.0) -> None:
        self.at += timedelta(seconds=after)
        ids = {"anonymousId": self.anonymous_id, **({"userId": self.user_id} if self.user_id else {})}
        answer = self.client.post(
            f"/v1/{body['type'] if body['type'] in ('page', 'identify') else 'track'}",
            json={"messageId": uuid.uuid4().hex, "timestamp": self.at.isoformat(), **ids, **body},
        )
        assert answer.status_code == 200, answer.text

    def page(self, path: str, after: float = 1.0, **props: Any) -> None:
        url = f"https://shop.example.kr{path}"
        self.send({"type": "page", "properties": props, "context": {"page": {"url": url}}}, after)

    def track(self, event: str, after: float = 1.0, **props: Any) -> None:
        self.send({"type": "track", "event": event, "properties": props}, after)

    def decide(self, placement: str, **extra: Any) -> dict[str, Any]:
        params = {"anonymousId": self.anonymous_id, "placement": placement, **extra}
        answer = self.client.get("/v1/decide", params=params)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def test_scopes_of_the_profile_recommendation_and_decision_endpoints(server: Server, shop: Shop) -> None:
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        for path in (f"/v1/profiles/{shop.vip}", f"/v1/recommendations?user={shop.vip}", "/v1/triggers"):
            denied = write.get(path)
            assert denied.status_code == 403, path
            assert secret.get(path).status_code == 200, path
        # the browser decides with the write key
        assert write.get("/v1/decide", params={"anonymousId": "a-1", "placement": "popup"}).status_code == 200
        no_one = write.get("/v1/decide", params={"placement": "popup"})
        assert no_one.status_code == 400 and no_one.json()["errors"][0]["field"] == "anonymousId"
    with server.client("sm_w_000000000000_wrong") as wrong:
        assert wrong.get("/v1/decide", params={"anonymousId": "a-1"}).status_code == 401


def test_the_360_degree_profile(server: Server, shop: Shop) -> None:
    with server.client(server.secret_key) as secret:
        found = secret.get(f"/v1/profiles/user:{shop.vip}").json()
        assert found["profile_id"] == f"user:{shop.vip}"
        kinds = {i["kind"] for i in found["identities"]}
        assert {"user", "anon"} <= kinds
        assert found["devices"] and all(d["events"] > 0 for d in found["devices"])
        assert "vip" in {s["key"] for s in found["segments"]} and found["vip"] is True
        assert {s["ko"] for s in found["segments"] if s["key"] == "vip"} == {"RFM VIP"}
        assert found["clv_12m"] > 0 and 0 <= found["p_alive"] <= 1
        assert found["orders"]["count"] >= 1 and found["orders"]["revenue"] > 0
        times = [e["event_time"] for e in found["recent_events"]]
        assert 0 < len(times) <= 20 and times == sorted(times, reverse=True)
        assert found["as_of"]["customer_intelligence"].startswith("2026-03-02")
        # a bare member id or one of the visitor's anonymous ids finds the same customer
        assert secret.get(f"/v1/profiles/{shop.vip}").json()["profile_id"] == found["profile_id"]
        anon = next(i["identifier"] for i in found["identities"] if i["kind"] == "anon")
        assert secret.get(f"/v1/profiles/{anon}").json()["profile_id"] == found["profile_id"]
        missing = secret.get("/v1/profiles/user:nobody")
        assert missing.status_code == 404 and "profile id" in missing.json()["message"]


def test_recommendations_in_context_with_reasons(server: Server, shop: Shop) -> None:
    with server.client(server.secret_key) as secret:
        assert secret.get("/readyz").json()["recommender"] == "ready"
        mine = secret.get("/v1/recommendations", params={"user": shop.vip, "n": 5}).json()
        assert mine["profile_id"] == f"user:{shop.vip}" and len(mine["items"]) == 5
        assert all(i["name"] and i["reason"]["ko"] and i["reason"]["en"] for i in mine["items"])
        assert all(i["reason"]["text"] == i["reason"]["ko"] for i in mine["items"])
        english = secret.get("/v1/recommendations", params={"user": shop.vip, "n": 5, "lang": "en"}).json()
        assert all(i["reason"]["text"] == i["reason"]["en"] for i in english["items"])
        # the cart and the product on screen are never offered again, and they steer the list
        first, second = shop.pairs[0]
        carted = secret.get(
            "/v1/recommendations",
            params={"user": "a-new-visitor", "cart": first, "product": "P00100", "n": 10},
        ).json()
        offered = [i["product_id"] for i in carted["items"]]
        assert carted["profile_id"] is None and len(offered) == 10
        assert first not in offered and "P00100" not in offered
        assert second in offered  # the planted complement of what is in the cart
        # weather and region are part of the context
        rainy = secret.get(
            "/v1/recommendations", params={"user": "a-new-visitor", "region": "서울", "precip_mm": 30, "n": 3}
        )
        assert rainy.status_code == 200 and len(rainy.json()["items"]) == 3
        bad = secret.get("/v1/recommendations", params={"user": "x", "n": 0})
        assert bad.status_code == 400


def test_related_items_find_the_planted_complements(server: Server, shop: Shop) -> None:
    with server.client(server.secret_key) as secret:
        hits = 0
        for first, second in shop.pairs:
            related = secret.get(f"/v1/products/{first}/related", params={"n": 5}).json()
            assert related["kind"] == "complements" and first not in [
                i["product_id"] for i in related["items"]
            ]
            hits += second in [i["product_id"] for i in related["items"]]
        assert hits >= 0.8 * len(shop.pairs), f"{hits} of {len(shop.pairs)} planted complements in the top 5"
        alike = secret.get(f"/v1/products/{shop.pairs[0][0]}/related", params={"kind": "alternatives"}).json()
        assert alike["kind"] == "alternatives" and alike["items"]
        assert secret.get("/v1/products/NOPE/related").status_code == 404


def test_the_coupon_popup_its_outcomes_and_the_conversion(server: Server, shop: Shop) -> None:
    with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
        before = _performance(secret, "first-purchase-coupon")
        v = Visitor(write)
        v.page("/product/P00001")
        v.track("Product Viewed", product_id="P00001", price=3900)
        assert v.decide("popup")["action"] is None  # browsing, nothing to say
        v.track("Product Added", product_id="P00001", price=3900)
        v.page("/cart")
        assert v.decide("popup")["action"] is None  # not leaving
        v.track("Exit Intent", page_type="cart")
        decision = v.decide("popup")
        action = decision["action"]
        assert action["kind"] == "popup" and action["trigger"] == "first-purchase-coupon"
        assert action["coupon"] == "WELCOME10" and "10%" in action["title"]
        english = Visitor(write)  # the same trigger speaks English when asked
        english.track("Product Added", product_id="P00002", price=1000)
        english.page("/cart")
        english.track("Exit Intent")
        assert english.decide("popup", lang="en")["action"]["title"].startswith("Wait!")
        # at most once per session
        assert v.decide("popup")["action"] is None
        for outcome in ("shown", "clicked"):
            sent = write.post(f"/v1/decisions/{decision['decision_id']}/outcome", json={"outcome": outcome})
            assert sent.status_code == 200 and sent.json()["outcome"] == outcome
        again = write.post(f"/v1/decisions/{decision['decision_id']}/outcome", json={"outcome": "shown"})
        assert again.status_code == 200  # reported twice, kept once
        v.track(
            "Order Completed",
            order_id=f"o-{v.anonymous_id}",
            revenue=3900,
            products=[{"product_id": "P00001", "quantity": 1, "price": 3900}],
        )
        after = _performance(secret, "first-purchase-coupon")
        assert after["served"] == before["served"] + 2
        assert (after["shown"], after["clicked"]) == (before["shown"] + 1, before["clicked"] + 1)
        assert after["converted"] == before["converted"] + 1
        # the browser's word is a claim: its revenue waits apart until the shop's server confirms it
        assert after["revenue"] == pytest.approx(before["revenue"])
        assert after["unverified_revenue"] == pytest.approx(before["unverified_revenue"] + 3900)
        confirmed = secret.post(
            "/v1/track",
            json={
                "messageId": f"server-{v.anonymous_id}",
                "event": "Order Completed",
                "anonymousId": v.anonymous_id,
                "properties": {
                    "order_id": f"o-{v.anonymous_id}",
                    "revenue": 3510,  # with the coupon's 10% off, as the shop charged it
                    "products": [{"product_id": "P00001", "quantity": 1, "price": 3510}],
                },
            },
        )
        assert confirmed.status_code == 200, confirmed.text
        deadline = time.monotonic() + 10  # orders derived from events are written a moment later
        while (verified := _performance(secret, "first-purchase-coupon"))["revenue"] == before["revenue"]:
            assert time.monotonic() < deadline, verified
            time.sleep(0.1)
        assert verified["converted"] == before["converted"] + 1
        assert verified["revenue"] == pytest.approx(before["revenue"] + 3510)
        assert verified["unverified_revenue"] == pytest.approx(before["unverified_revenue"])
        unknown = write.post("/v1/decisions/not-a-decision/outcome", json={"outcome": "shown"})
        assert unknown.status_code == 404
        wrong = write.post(f"/v1/decisions/{decision['decision_id']}/outcome", json={"outcome": "loved"})
        assert wrong.status_code == 400


def _performance(secret: httpx.Client, trigger: str) -> dict[str, Any]:
    listed = secret.get("/v1/triggers").json()["triggers"]
    found: dict[str, Any] = next(t for t in listed if t["id"] == trigger)["performance"]
    return found


def test_a_repeat_buyer_gets_no_first_purchase_coupon_but_the_cart_reminder_elsewhere(
    server: Server, shop: Shop
) -> None:
    with server.client(server.write_key) as write:
        v = Visitor(write, user_id=shop.repeat_buyer)
        signed = {
            "userId": shop.repeat_buyer,
            "userSignature": IdentitySigner(shop.folder).sign(shop.repeat_buyer),
        }
        v.track("Product Added", product_id="P00003", price=5000)
        v.page("/cart")
        v.track("Exit Intent")
        assert v.decide("popup", **signed)["action"] is None
        v.page("/category/fruit")
        v.track("Exit Intent")
        reminder = v.decide("popup", **signed)["action"]
        assert reminder["kind"] == "slide_in" and reminder["trigger"] == "cart-abandonment"
        assert reminder["link"] == "/cart"


def test_the_quick_skimmer_gets_the_careers_banner_and_the_returning_vip_their_picks(
    server: Server, shop: Shop
) -> None:
    with server.client(server.write_key) as write:
        skimmer = Visitor(write)
        for category in ("fruit", "drinks", "beauty", "shoes", "digital", "camping"):
            skimmer.page(f"/category/{category}", after=3)
        banner = skimmer.decide("top")["action"]
        assert banner["kind"] == "banner" and banner["trigger"] == "careers-banner"
        assert banner["link"] == "/careers"
        reader = Visitor(write)
        for category in ("fruit", "drinks", "beauty", "shoes", "digital", "camping"):
            reader.page(f"/category/{category}", after=45)
        assert reader.decide("top")["action"] is None
        vip = Visitor(write, user_id=shop.vip)
        vip.page("/")
        signature = IdentitySigner(shop.folder).sign(shop.vip)  # what the shop's server computes
        picks = vip.decide("top", userId=shop.vip, userSignature=signature)["action"]
        assert picks["kind"] == "recommendations" and picks["trigger"] == "returning-vip"
        assert len(picks["items"]) == 4 and all(i["reason"]["text"] for i in picks["items"])
        # on the page of their first pick, in a new session, the widget offers the other items
        first = picks["items"][0]["product_id"]
        again = Visitor(write, user_id=shop.vip)
        again.page(f"/products/{first}")
        again.track("Product Viewed", product_id=first)
        beside = again.decide("top", userId=shop.vip, userSignature=signature)["action"]
        assert beside["trigger"] == "returning-vip" and len(beside["items"]) == 4
        assert first not in {i["product_id"] for i in beside["items"]}


def test_a_claimed_member_id_without_its_signature_gets_nothing_personal(server: Server, shop: Shop) -> None:
    # the write key sits in every shop page: guessing member ids revealed who is a VIP, what they
    # bought (the picks' reasons) and their region
    with server.client(server.write_key) as write:
        guesser = Visitor(write, user_id=shop.vip)
        guesser.page("/")  # the events claim the VIP's id too
        assert guesser.decide("top", userId=shop.vip)["action"] is None
        assert guesser.decide("top", userId=shop.vip, userSignature="0" * 64)["action"] is None
        other = IdentitySigner(shop.folder).sign(shop.repeat_buyer)  # a valid signature of someone else
        assert guesser.decide("top", userId=shop.vip, userSignature=other)["action"] is None
        fresh = Visitor(write)
        assert fresh.decide("top", userId=shop.vip)["action"] is None
        posted = write.post(
            "/v1/decide", json={"anonymousId": fresh.anonymous_id, "userId": shop.vip, "placement": "top"}
        )
        assert posted.status_code == 200 and posted.json()["action"] is None


def test_the_tracker_and_the_demo_shop_are_served(server: Server) -> None:
    with server.client() as anyone:
        sdk = anyone.get("/sdk.js")
        assert sdk.status_code == 200 and sdk.headers["content-type"].startswith("application/javascript")
        assert all(name in sdk.text for name in ("exitIntent", "/v1/decide", "Scroll Depth", "sendBeacon"))
        home = anyone.get("/demo/")
        assert home.status_code == 200 and 'src="/sdk.js"' in home.text and "data-write-key=" in home.text
        assert "숍마인드 데모 상점" in home.text  # the product's one Korean name (숍, as Koreans write shop)
        assert anyone.get("/demo/product/P00001").status_code == 200
        assert anyone.get("/demo/product/NOPE").status_code == 404
        # browsers on the shop's own domain may call the API
        preflight = anyone.options(
            "/v1/track",
            headers={"Origin": "https://shop.example.kr", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"


def test_the_shops_server_signs_with_the_secret_the_cli_prints(shop: Shop) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "shopmind", "keys", "identity-secret", "-w", str(shop.folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    secret = printed.stdout.strip()
    assert len(secret) == 64 and "HMAC-SHA256" in printed.stderr
    mine = hmac.new(secret.encode(), shop.vip.encode(), hashlib.sha256).hexdigest()
    signer = IdentitySigner(shop.folder)
    assert signer.verify(shop.vip, mine) and signer.verify(shop.vip, mine.upper())
    assert not signer.verify(shop.repeat_buyer, mine) and not signer.verify(shop.vip, None)
    assert oct(os.stat(shop.folder / "identity.key").st_mode & 0o777) == "0o600"
