"""The public write key is public (issue 16, point 5): numbers a browser sends are bounded, and
orders sent with the write key are claims, kept out of revenue, lifetime value, VIPs and model
training until a server-side source (the secret-key API, an import) confirms them. Reproduced
against a real ``shopmind serve`` on a synthetic shop, then the customer-intelligence job."""

from __future__ import annotations

import json
import math
import time
from datetime import timedelta
from pathlib import Path

import pytest

from shopmind.insights import overview
from shopmind.pipeline import run_customer_intelligence
from shopmind.store import Workspace, unverified_orders
from tests.serving import Server
from tests.shops import START, Shop, demo_workspace

DAYS = 30


def _order(user: str, order_id: str, price: float, quantity: int = 1, **extra: object) -> dict[str, object]:
    return {
        "type": "order_completed",
        "userId": user,
        "messageId": f"msg-{order_id}",
        "timestamp": (START + timedelta(days=DAYS - 1)).isoformat(),
        "properties": {
            "order_id": order_id,
            "products": [{"product_id": "P00001", "price": price, "quantity": quantity}],
            **extra,
        },
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return demo_workspace(tmp_path_factory.mktemp("integrity") / "shop", customers=200, days=DAYS)


def test_numbers_beyond_the_limits_are_refused_naming_the_field(shop: Shop) -> None:
    server = Server(shop.folder, args=("--no-recommender",)).start()
    try:
        with server.client(server.write_key) as write:
            # one order of 1e308 won x 100,000 made the dashboard's revenue ₩inf
            huge = write.post("/v1/track", json=_order("fake-1", "huge-1", 1e308, 100_000))
            assert huge.status_code == 400, huge.text
            fields = {e["field"]: e["reason"] for e in huge.json()["errors"]}
            assert "limit" in fields["properties.products.0.price"]
            # each line within the limits, their sum above the order's: refused as the order's value
            many = {
                **_order("fake-1", "many-1", 1.0),
                "properties": {
                    "order_id": "many-1",
                    "products": [
                        {"product_id": f"P{i}", "price": 9e8, "quantity": 100_000} for i in range(3)
                    ],
                },
            }
            refused = write.post("/v1/track", json=many)
            assert refused.status_code == 400
            assert "properties.revenue" in {e["field"] for e in refused.json()["errors"]}
            view = {
                "type": "product_view",
                "anonymousId": "a-huge",
                "properties": {"product_id": "P1", "price": 5e12},
            }
            assert write.post("/v1/track", json=view).status_code == 400
            stated = write.post("/v1/track", json=_order("fake-1", "rev-1", 1000.0, revenue=1e300))
            assert stated.status_code == 400 and stated.json()["errors"][0]["field"] == "properties.revenue"
            # JSON has no infinity: 1e400 is refused as the body it is
            assert (
                write.post(
                    "/v1/track", content=b'{"event":"x","anonymousId":"a","properties":{"p":1e400}}'
                ).status_code
                == 400
            )
    finally:
        assert server.stop() == 0
    with Workspace(shop.folder).open_store() as store:
        assert math.isfinite(overview(store).revenue)
        assert (
            store.scalar("SELECT count(*) FROM orders WHERE order_id IN ('huge-1', 'many-1', 'rev-1')") == 0
        )


def test_orders_sent_with_the_write_key_are_claims_until_the_shops_server_confirms_them(
    shop: Shop, tmp_path: Path
) -> None:
    fakes = [f"fake-member-{i}" for i in range(3)]
    with Workspace(shop.folder).open_store() as store:
        before = overview(store)
    server = Server(shop.folder, args=("--no-recommender",)).start()
    try:
        with server.client(server.write_key) as write:
            for i, user in enumerate(fakes):
                for k in range(3):  # three plausible 12,000-won orders each made fake members VIPs
                    sent = write.post("/v1/track", json=_order(user, f"claim-{i}-{k}", 12_000.0))
                    assert sent.status_code == 200, sent.text
            # the browser's claim of an order the shop's server then reports with the real price
            assert (
                write.post("/v1/track", json=_order(shop.repeat_buyer, "real-1", 99_000.0)).status_code == 200
            )
        with server.client(server.secret_key) as secret:
            confirmed = secret.post(
                "/v1/track", json={**_order(shop.repeat_buyer, "real-1", 15_000.0), "messageId": "srv-real-1"}
            )
            assert confirmed.status_code == 200, confirmed.text
            # the orders derived from events are written a moment later (the server's confirmation
            # of real-1 too: until then it is counted among the claims)
            deadline = time.monotonic() + 30
            note = ""
            while "미확인 주문 9건" not in note:
                assert time.monotonic() < deadline, (
                    f"the overview says {note or 'nothing'} of unverified orders"
                )
                time.sleep(0.1)
                page = secret.get("/dashboard/overview")
                if 'id="unverified">' in page.text:
                    note = page.text.split('id="unverified">')[1].split("</p>")[0]
    finally:
        assert server.stop() == 0
    with Workspace(shop.folder).open_store() as store:
        assert unverified_orders(store) == 9
        now = overview(store)
        # the dashboard's revenue moved by the confirmed order only
        assert now.revenue == pytest.approx(before.revenue + 15_000.0)
        assert now.unverified_orders == 9 and now.unverified_revenue == pytest.approx(9 * 12_000.0)
        real = store.sql("SELECT verified, source FROM orders WHERE order_id = 'real-1'")
        assert real == [(True, "server")]
        assert store.sql("SELECT unit_price FROM order_lines WHERE order_id = 'real-1'") == [(15_000.0,)]
        store.rebuild_profiles()
        run_customer_intelligence(store, START + timedelta(days=DAYS))
        scored = store.sql(
            "SELECT DISTINCT s.profile_id FROM scores s JOIN profiles p USING (profile_id) "
            "WHERE p.identifier IN (SELECT 'user:' || unnest(?::VARCHAR[])) AND s.name = 'revenue' AND s.value > 0",
            [fakes],
        )
        assert scored == [], "a claim counted as a purchase"
        vips = store.sql(
            "SELECT count(*) FROM segment_members m JOIN profiles p USING (profile_id) "
            "WHERE p.identifier IN (SELECT 'user:' || unnest(?::VARCHAR[])) AND m.segment IN ('vip', 'clv_vip')",
            [fakes],
        )
        assert vips == [(0,)]


def test_the_same_orders_from_the_shops_server_do_count(shop: Shop) -> None:
    """The control: what the claims test asserts could fail — with the secret key they are purchases."""
    members = ["server-member-0"]
    server = Server(shop.folder, args=("--no-recommender",)).start()
    try:
        with server.client(server.secret_key) as secret:
            for k in range(3):
                answer = secret.post(
                    "/v1/batch", content=json.dumps({"batch": [_order(members[0], f"srv-{k}", 12_000.0)]})
                )
                assert answer.status_code == 200 and answer.json()["accepted"] == 1
    finally:
        assert server.stop() == 0
    with Workspace(shop.folder).open_store() as store:
        store.rebuild_profiles()
        run_customer_intelligence(store, START + timedelta(days=DAYS))
        revenue = store.sql(
            "SELECT s.value FROM scores s JOIN profiles p USING (profile_id) JOIN job_runs r USING (run_id) "
            "WHERE p.identifier = 'user:server-member-0' AND s.name = 'revenue' ORDER BY r.started_at DESC LIMIT 1"
        )
        assert revenue and revenue[0][0] == pytest.approx(36_000.0)
