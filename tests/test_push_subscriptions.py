"""Push subscriptions end to end through a real server: the tracker's calls (the VAPID key, a
browser's subscription, an app's device token, a revocation) are answered as documented and
bad ones refused naming the field; then ``shopmind serve --send`` pushes campaign messages to
them through the push stand-in (which checks the VAPID JWT and decrypts the payload), and
revokes the subscriptions the push services say are gone."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shopmind.activation import VapidKey
from shopmind.api._push import LOOPBACK_ENDPOINTS_ENV, public_push_host
from shopmind.store import ConsentEntry, OutboxRow, Workspace, enqueue, record_consents, stored_profiles
from tests.gateway_standin import Standin
from tests.serving import Server
from tests.workers import wait_for


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[Standin]:
    (tmp_path / "tls").mkdir()
    server = Standin(tls_dir=tmp_path / "tls")  # https: the API takes https endpoints only
    yield server
    server.close()


def _channels(workspace: Path, standin: Standin) -> None:
    assert standin.ca_file is not None
    port = standin.base_url.rsplit(":", 1)[1]
    (workspace / "channels.toml").write_text(
        '[sender]\nname = "봄날상점"\ncontact = "02-123-4567"\n'
        '[channels.web_push]\nurl = "webpush:keys/push.pem"\nsubject = "mailto:ops@shop.example"\n'
        f'ca_file = "{standin.ca_file}"\n'
        "[channels.app_push]\n"
        f'url = "https://test-push-token@127.0.0.1:{port}/fcm/v1/projects/shop/messages:send"\n'
        f'ca_file = "{standin.ca_file}"\n'
    )


def _push(key: str, profile: str, channel: str) -> OutboxRow:
    return OutboxRow(
        key,
        "c1",
        "s1",
        profile,
        channel,
        channel,
        "advertising",
        datetime.now(UTC) - timedelta(minutes=1),
        "봄 신상품이 나왔어요\n발신: 봄날상점 · 문의 02-123-4567",
        subject="(광고) 봄날상점",
    )


def test_subscriptions_are_stored_refused_revoked_and_pushed_to(
    tmp_path: Path, standin: Standin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOOPBACK_ENDPOINTS_ENV, "1")  # the stand-in push service is on this machine
    server = Server(tmp_path / "shop")
    _channels(server.workspace, standin)
    server.args = ("--no-recommender", "--run-at", "off")
    server.start()
    try:
        with server.client(server.write_key) as client:
            assert server.client().get("/v1/push/vapid-key").status_code == 401
            key = client.get("/v1/push/vapid-key").json()["publicKey"]
            assert client.get("/v1/push/vapid-key").json()["publicKey"] == key
            subs = {v: standin.subscribe(application_server_key=key) for v in ("v1", "v2", "v3")}

            def subscribe(visitor: str, **extra: object) -> dict[str, object]:
                body = {"subscription": orjson.loads(subs[visitor]), "anonymousId": visitor, **extra}
                answer = client.post("/v1/push-subscriptions", json=body)
                assert answer.status_code == 200, answer.text
                return dict(answer.json())

            assert subscribe("v1") == {"stored": True, "duplicate": False, "kind": "web"}
            assert subscribe("v1") == {"stored": False, "duplicate": True, "kind": "web"}  # stored once
            subscribe("v2")
            subscribe("v3")
            for token, visitor in (("tok-v1", "v1"), ("unregistered-v4", "v4")):
                answer = client.post(
                    "/v1/push-subscriptions",
                    json={"kind": "app", "token": token, "platform": "android", "anonymousId": visitor},
                )
                assert answer.json() == {"stored": True, "duplicate": False, "kind": "app"}, answer.text
            v3 = orjson.loads(subs["v3"])["endpoint"]
            assert client.delete("/v1/push-subscriptions", params={"endpoint": v3}).json() == {"revoked": 1}
            assert client.delete("/v1/push-subscriptions", params={"endpoint": v3}).json() == {"revoked": 0}

            def refused(body: dict[str, object], status: int = 400) -> list[str]:
                answer = client.post("/v1/push-subscriptions", json=body)
                assert answer.status_code == status, answer.text
                return [e["field"] for e in answer.json()["errors"]]

            good = orjson.loads(subs["v1"])
            plain = {**good, "endpoint": good["endpoint"].replace("https:", "http:")}
            assert refused({"subscription": plain, "anonymousId": "v9"}) == ["subscription.endpoint"]
            # the sender will POST to the endpoint: not into the shop's own network
            for inside in ("https://10.0.0.5/push/1", "https://169.254.169.254/x", "https://db.internal/x"):
                local = {**good, "endpoint": inside}
                assert refused({"subscription": local, "anonymousId": "v9"}) == ["subscription.endpoint"]
            short = {**good, "keys": {"p256dh": good["keys"]["p256dh"][:40], "auth": "AAAA"}}
            assert refused({"subscription": short, "anonymousId": "v9"}) == [
                "subscription.keys.p256dh",
                "subscription.keys.auth",
            ]
            assert refused({"kind": "app", "token": "t 1", "anonymousId": "v9"}) == ["token", "platform"]
            assert refused({"subscription": good}) == ["anonymousId"]
            assert refused({"subscription": good, "userId": "m1"}, 403) == ["userSignature"]
            worker_js = server.client().get("/push-sw.js")
            assert worker_js.status_code == 200 and "showNotification" in worker_js.text
            assert worker_js.headers["content-type"].startswith("application/javascript")
    finally:
        assert server.stop() == 0, server.output()

    # the key the browsers subscribed with is the web push channel's key file (channels.toml), 0600
    key_file = server.workspace / "keys" / "push.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert VapidKey.load_or_create(key_file).application_server_key == key
    standin.unsubscribe(subs["v2"])  # the browser dropped it: the push service answers 410
    with Workspace(server.workspace).open_store() as store:
        profile = stored_profiles(store, [f"anon:v{i}" for i in range(1, 5)])
        assert len(set(profile.values())) == 4
        # night-time consent too: the test sends now, and now may be 21:00-08:00 in Korea, when an
        # advertising push without it waits for 08:00 (the law; tests/test_compliance.py)
        record_consents(
            store,
            [
                ConsentEntry(
                    f"anon:v{i}",
                    channel,
                    True,
                    datetime.now(UTC) - timedelta(days=1),
                    "signup_form",
                    purpose=purpose,
                )
                for i in range(1, 5)
                for channel in ("web_push", "app_push")
                for purpose in ("advertising", "night_advertising")
            ],
        )
        enqueue(
            store,
            [
                _push("w1", profile["anon:v1"], "web_push"),
                _push("w2", profile["anon:v2"], "web_push"),
                _push("w3", profile["anon:v3"], "web_push"),
                _push("a1", profile["anon:v1"], "app_push"),
                _push("a4", profile["anon:v4"], "app_push"),
            ],
            at=datetime.now(UTC),
        )
    server.args = ("--send", "--no-recommender", "--run-at", "off")
    server.start()
    try:
        wait_for(
            lambda: len(standin.web_push.requests) >= 2 and len(standin.app_push.requests) >= 2,
            "the pushes did not reach the push services",
        )
    finally:
        assert server.stop() == 0, server.output()
    # decrypted by the stand-in with the browser's keys (w2's subscription was gone: no payload)
    [payload] = [r["payload"] for r in standin.web_push.requests if "payload" in r]
    assert (payload["key"], payload["tag"], payload["title"]) == ("w1", "w1", "(광고) 봄날상점")
    assert payload["body"].startswith("봄 신상품이 나왔어요")
    assert [(r.key, r.to) for r in standin.app_push.received()] == [("a1", "tok-v1")]
    with Workspace(server.workspace).open_store(read_only=True) as store:
        states = {k: (s, r) for k, s, r in store.sql("SELECT message_key, state, reason FROM outbox")}
        revoked = dict(store.sql("SELECT endpoint, revoked_at IS NOT NULL FROM push_subscriptions"))
        kinds = dict(
            store.sql("SELECT endpoint, kind || ':' || coalesce(platform, '') FROM push_subscriptions")
        )
    assert states["w1"] == ("sent", None) and states["a1"] == ("sent", None)
    assert states["w2"][0] == "failed" and "gone (HTTP 410)" in str(states["w2"][1])
    assert states["w3"] == ("suppressed", "unreachable")
    assert states["a4"][0] == "failed" and "UNREGISTERED" in str(states["a4"][1])
    endpoint = {v: orjson.loads(s)["endpoint"] for v, s in subs.items()}
    assert revoked == {
        endpoint["v1"]: False,
        endpoint["v2"]: True,  # the push service said it is gone
        endpoint["v3"]: True,  # the browser revoked it
        "tok-v1": False,
        "unregistered-v4": True,  # the app push service said UNREGISTERED
    }
    assert kinds["tok-v1"] == "app:android" and kinds[endpoint["v1"]] == "web:"


def test_a_store_with_browser_subscriptions_takes_app_tokens_after_migration_17(tmp_path: Path) -> None:
    import duckdb

    from shopmind.store import MIGRATIONS, PushSubscription, Store, push_address, save_push_subscription

    path = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)"
    )
    for migration in MIGRATIONS:
        if migration.version > 16:
            break
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [migration.version, migration.name])
    before = datetime(2026, 11, 1, tzinfo=UTC)
    con.execute(
        "INSERT INTO push_subscriptions VALUES ('https://push.example/s1', 'anon:v1', 'P', 'A', ?, NULL)",
        [before],
    )
    con.close()
    with Store(path) as store:
        assert store.sql("SELECT kind, platform, p256dh FROM push_subscriptions") == [("web", None, "P")]
        at = before + timedelta(days=1)
        assert save_push_subscription(
            store, PushSubscription("tok-1", "anon:v1", "app", platform="ios"), at=at
        )
        assert not save_push_subscription(
            store, PushSubscription("tok-1", "anon:v1", "app", platform="ios"), at=at
        )
        assert push_address(store, "anon:v1", "app") == ("tok-1", None, None)
        assert push_address(store, "anon:v1", "web") == ("https://push.example/s1", "P", "A")


@pytest.mark.parametrize(
    ("host", "public", "with_loopback"),
    [
        ("fcm.googleapis.com", True, True),
        ("updates.push.services.mozilla.com", True, True),
        ("web.push.apple.com", True, True),
        ("8.8.8.8", True, True),
        ("127.0.0.1", False, True),
        ("[::1]", False, True),
        ("localhost", False, True),
        ("10.1.2.3", False, False),
        ("192.168.0.10", False, False),
        ("172.16.5.4", False, False),
        ("169.254.169.254", False, False),  # the cloud's metadata service
        ("0.0.0.0", False, False),
        ("[fd00::1]", False, False),
        ("224.0.0.1", False, False),
        ("intranet", False, False),
        ("printer.local", False, False),
        ("db.internal", False, False),
    ],
)
def test_a_subscription_endpoint_must_be_on_the_internet(
    host: str, public: bool, with_loopback: bool
) -> None:
    assert public_push_host(host) is public
    assert public_push_host(host, loopback=True) is with_loopback
