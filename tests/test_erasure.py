"""Erasing a customer (issue 16, fault 12), through the CLI and the real server: afterwards no row
of any table holds any of their identifiers or hashes, someone else's data is untouched, and only
a record that an erasure happened stays, naming no one."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from shopmind.core import IdentifierHasher
from shopmind.ingest import import_events, import_interests, import_orders
from shopmind.segments import create_segment
from shopmind.store import (
    ERASED_TABLES,
    ConsentEntry,
    ConsentNotice,
    Store,
    Workspace,
    log_decisions,
    log_outcomes,
    record_consents,
    record_notices,
)
from tests.serving import Server
from tests.test_privacy import holding, shopmind, text_columns

from .conftest import NOW

KIM_EMAIL, KIM_PHONE = "kim7q@example.com", "010-7777-1234"


def kim_needles(hasher: IdentifierHasher) -> list[str]:
    """What identifies Kim: ids (``kim-7q`` is in ``anon-kim-7q`` and ``old-kim-7q`` too), hashes
    and contact data."""
    email, phone = hasher.email(KIM_EMAIL), hasher.phone(KIM_PHONE)
    assert email and phone
    return ["kim-7q", email, phone, "kim7q@", "7777-1234", "01077771234"]


def _events(
    who: str, anon: str, *, email: str | None = None, phone: str | None = None
) -> list[dict[str, object]]:
    traits = {k: v for k, v in (("email", email), ("mobile", phone)) if v}
    return [
        {
            "messageId": f"{who}-1",
            "type": "page_view",
            "anonymousId": anon,
            "timestamp": "2026-10-01T10:00:00Z",
        },
        {"messageId": f"{who}-2", "type": "identify", "anonymousId": anon, "userId": who, "traits": traits},
        {"messageId": f"{who}-3", "type": "alias", "previousId": f"old-{who}", "userId": who},
        {
            "messageId": f"{who}-4",
            "type": "order_completed",
            "userId": who,
            "timestamp": "2026-10-02T10:00:00Z",
            "properties": {"order_id": f"O-{who}", "products": [{"product_id": "P1", "price": 1000}]},
        },
        {"messageId": f"{who}-5", "type": "product_view", "userId": who, "properties": {}},  # rejected
    ]


def seed(ws: Workspace) -> None:
    """Kim (kim-7q) and Lee (lee-3x) in every table that can hold a person's data."""
    hasher = ws.hasher()
    events = ws.path.parent / "events.jsonl"
    lines = _events("kim-7q", "anon-kim-7q", email=KIM_EMAIL, phone=KIM_PHONE) + _events(
        "lee-3x", "anon-lee-3x"
    )
    events.write_text("\n".join(orjson.dumps(e).decode() for e in lines) + "\n")
    orders = ws.path.parent / "orders.csv"
    orders.write_text(
        "order_id,ordered_at,product_id,quantity,unit_price,customer_id,email,phone\n"
        f"G-1,2026-10-03 10:00:00,P2,1,500,,{KIM_EMAIL},\n"  # a guest order: Kim by e-mail
        f"G-2,2026-10-03 11:00:00,P2,1,500,,,{KIM_PHONE}\n"  # and by phone
        "G-3,2026-10-03 12:00:00,P2,x,500,kim-7q,,\n"  # rejected: Kim in the quarantine
        "L-1,2026-10-03 12:00:00,P2,1,500,lee-3x,,\n"
    )
    interests = ws.path.parent / "interests.csv"
    interests.write_text(f"phone,user_id,keyword\n{KIM_PHONE},,캠핑\n,lee-3x,낚시\n")
    with ws.open_store() as store:
        import_events(store, events, hasher=hasher)
        import_orders(store, orders, hasher=hasher)
        import_interests(store, interests, provider="naver", hasher=hasher)
        kim, lee = "user:kim-7q", "user:lee-3x"
        with store.job_run("customer_intelligence", NOW) as run_id:
            store.write_scores(
                run_id,
                NOW,
                pa.table({"profile_id": [kim, lee], "name": ["clv_12m"] * 2, "value": [1.0, 2.0]}),
            )
            store.write_segment_members(
                run_id, NOW, pa.table({"segment": ["vip", "vip"], "profile_id": [kim, lee]})
            )
            store.write_profile_facts(
                run_id, NOW, "taste", pa.table({"profile_id": [kim, lee], "top": ["라면", "김치"]})
            )
            store.sql(
                "INSERT INTO recommendations VALUES (?, ?, 'home', 1, 'P1', 0.5, 'popular', 'hybrid', ?), "
                "(?, ?, 'home', 1, 'P1', 0.5, 'popular', 'hybrid', ?)",
                [run_id, kim, NOW, run_id, lee, NOW],
            )
        vips = {"name": {"ko": "VIP", "en": "VIPs"}, "conditions": [{"kind": "in_segment", "segment": "vip"}]}
        assert create_segment(store, vips, as_of=NOW).members == 2
        decided = NOW - timedelta(hours=1)
        log_decisions(
            store,
            [
                {
                    "decision_id": f"d-{who}",
                    "decided_at": decided,
                    "visitor": f"anon-{who}",
                    "user_id": who,
                    "profile_id": f"user:{who}",
                    "session_id": f"s-{who}",
                    "placement": "home",
                    "trigger_id": "welcome",
                    "action": "banner",
                }
                for who in ("kim-7q", "lee-3x")
            ],
        )
        log_outcomes(
            store,
            [{"decision_id": f"d-{w}", "outcome": "shown", "outcome_at": NOW} for w in ("kim-7q", "lee-3x")],
        )
        record_consents(
            store,
            [
                ConsentEntry("email:" + str(hasher.email(KIM_EMAIL)), "email", True, NOW, "signup_form"),
                ConsentEntry("user:kim-7q", "sms", False, NOW, "reply_080"),
                ConsentEntry(lee, "sms", True, NOW, "signup_form"),
            ],
        )
        record_notices(store, [ConsentNotice("user:kim-7q", "email", NOW)])


def lee_rows(store: Store) -> dict[str, int]:
    return {
        "events": store.scalar(
            "SELECT count(*) FROM events WHERE user_id = 'lee-3x' OR anonymous_id = 'anon-lee-3x'"
        ),
        "orders": store.scalar("SELECT count(*) FROM orders WHERE customer_id = 'lee-3x'"),
        "scores": store.scalar("SELECT count(*) FROM scores WHERE profile_id = 'user:lee-3x'"),
        "decisions": store.scalar("SELECT count(*) FROM decisions WHERE user_id = 'lee-3x'"),
        "quarantine": store.scalar("SELECT count(*) FROM quarantine WHERE contains(raw, 'lee-3x')"),
    }


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "shop")
    seed(ws)
    yield ws


def _assert_kim_is_gone(ws: Workspace, lee_before: dict[str, int]) -> dict[str, object]:
    hasher = ws.hasher()
    with ws.open_store(read_only=True) as store:
        assert len(text_columns(store)) > 60  # every text column of every table is searched
        assert holding(store, kim_needles(hasher)) == []
        assert lee_rows(store) == lee_before
        # a saved segment's members are its stays: Lee's is there, Kim's is gone
        assert store.sql("SELECT profile_id FROM segment_history") == [("user:lee-3x",)]
        erasures = store.sql("SELECT erasure_id, token, counts FROM erasures")
    assert len(erasures) == 1
    _, token, counts = erasures[0]
    assert token == hasher.hash_value("erasure", "user:kim-7q")  # recognisable with the key only
    return dict(orjson.loads(counts))


def test_cli_erases_a_customer_everywhere(seeded: Workspace) -> None:
    hasher = seeded.hasher()
    with seeded.open_store(read_only=True) as store:
        before = holding(store, kim_needles(hasher))
        lee_before = lee_rows(store)
    # Kim is in every table an erasure deletes from: the test below proves something
    assert {table for table, *_ in before} >= set(ERASED_TABLES)
    assert all(lee_before.values())

    refused = shopmind("customers", "erase", "kim-7q", "-w", str(seeded.path), stdin="n\n")
    assert refused.returncode == 2 and "nothing erased" in refused.stderr
    with seeded.open_store(read_only=True) as store:
        assert holding(store, kim_needles(hasher)) == before

    done = shopmind("customers", "erase", "user:kim-7q", "--yes", "--json", "-w", str(seeded.path))
    assert done.returncode == 0, done.stderr
    answer = orjson.loads(done.stdout)
    assert answer["profile_id"] == "user:kim-7q" and answer["total"] > 0
    assert all(answer["deleted"][table] > 0 for table in ERASED_TABLES), answer["deleted"]
    assert _assert_kim_is_gone(seeded, lee_before) == answer["deleted"]
    # nor in the bytes of the file: the store was rewritten without the freed blocks
    data = seeded.store_path.read_bytes()
    assert b"kim-7q" not in data and b"lee-3x" in data
    assert stat.S_IMODE(seeded.store_path.stat().st_mode) == 0o600

    again = shopmind("customers", "erase", "user:kim-7q", "--yes", "-w", str(seeded.path))
    assert again.returncode == 0 and "erased before" in again.stdout
    unknown = shopmind("customers", "erase", "nobody-9", "--yes", "-w", str(seeded.path))
    assert unknown.returncode == 2 and "no customer 'nobody-9'" in unknown.stderr


def _ready_recommender(client: Any, fits: int = 1) -> dict[str, Any]:
    """The server's recommender facts once it has been learned ``fits`` times and is ready."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        facts: dict[str, Any] = client.get("/v1/jobs").json()["recommender"]
        if facts["status"] == "ready" and facts["fits"] >= fits:
            return facts
        time.sleep(0.2)
    raise AssertionError(f"the recommender was not learned {fits} time(s): {facts}")


def test_the_api_erases_a_customer_everywhere(seeded: Workspace) -> None:
    hasher = seeded.hasher()
    server = Server(seeded.path).start()
    try:
        with server.client(server.write_key) as write, server.client(server.secret_key) as secret:
            # Kim keeps browsing while the server runs: the live path's rows go too
            live = [
                {"messageId": "kim-live-1", "type": "page_view", "anonymousId": "anon-kim-7q-phone"},
                {
                    "messageId": "kim-live-2",
                    "type": "identify",
                    "anonymousId": "anon-kim-7q-phone",
                    "userId": "kim-7q",
                    "traits": {"Phone": KIM_PHONE},
                },
                {"messageId": "kim-live-3", "type": "product_view", "anonymousId": "anon-kim-7q-phone"},
            ]
            assert write.post("/v1/batch", json={"batch": live}).status_code == 200
            assert write.delete("/v1/profiles/user:kim-7q").status_code == 403
            assert secret.delete("/v1/profiles/nobody-9").status_code == 404
            recommender = _ready_recommender(secret)
            answer = secret.delete("/v1/profiles/kim-7q")
            assert answer.status_code == 200, answer.text
            erased = answer.json()
            assert erased["profile_id"] == "user:kim-7q" and erased["erased_before"] == []
            assert erased["deleted"]["events"] == 4 + 2  # imported and live (the rest were rejected)
            assert erased["deleted"]["quarantine"] == 3
            assert secret.get("/v1/events/kim-live-2").status_code == 404
            assert secret.get("/v1/profiles/kim-7q").status_code == 404
            assert secret.get("/v1/profiles/lee-3x").status_code == 200
            again = secret.delete("/v1/profiles/kim-7q")
            assert again.status_code == 200
            assert again.json()["total"] == 0 and again.json()["erased_before"] == [erased["erased_at"]]
            # the recommender in memory learned from Kim's purchases: it is learned again without them
            assert _ready_recommender(secret, recommender["fits"] + 1)["fits"] > recommender["fits"]
    finally:
        assert server.stop() == 0
    with seeded.open_store(read_only=True) as store:
        assert holding(store, kim_needles(hasher)) == []
