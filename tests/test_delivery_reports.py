"""A gateway's delivery reports move the outbox rows, not only the message events: through a real
server, a ``failed`` report makes a sent message ``failed`` with the gateway's reason, a
``delivered`` one leaves it ``sent``, and a message whose hand-over was cut (``unknown``) is no
longer resent once the gateway reports on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shopmind.core import FixedClock
from shopmind.store import (
    OutboxRow,
    Outcome,
    Reported,
    Store,
    Workspace,
    claim_due,
    enqueue,
    record_outcomes,
    record_reported,
)
from tests.serving import Server

DAY = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _row(key: str) -> OutboxRow:
    return OutboxRow(
        key, "c1", "s1", f"user:{key}", "sms", "sms", "informational", DAY, "주문하신 상품이 출발했어요"
    )


def _sent(store: Store, outcomes: dict[str, Outcome], at: datetime = DAY) -> None:
    """Enqueue one row per key and settle each as ``outcomes`` says, as the sender would."""
    enqueue(store, [_row(k) for k in outcomes], at=at)
    assert {c.message_key for c in claim_due(store, at, 100)} == set(outcomes)
    record_outcomes(store, list(outcomes.values()), at=at)


def _states(store: Store) -> dict[str, tuple[str, str | None]]:
    return {k: (s, r) for k, s, r in store.sql("SELECT message_key, state, reason FROM outbox")}


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:", clock=FixedClock(DAY)) as s:
        yield s


def test_reports_move_the_rows_they_name(store: Store) -> None:
    _sent(
        store,
        {
            "k1": Outcome("k1", "sent", provider_id="p1"),
            "k2": Outcome("k2", "sent", provider_id="p2"),
            "k3": Outcome("k3", "unknown", "cut"),
            "k4": Outcome("k4", "sent", provider_id="same"),
            "k5": Outcome("k5", "sent", provider_id="same"),
            "k6": Outcome("k6", "failed", "refused"),
        },
    )
    later = DAY + timedelta(minutes=3)
    changed = record_reported(
        store,
        [
            Reported("failed", message_key="k1", reason="결번"),
            Reported("delivered", provider_id="p2"),
            Reported("delivered", message_key="k3"),
            Reported("failed", provider_id="same", reason="ambiguous: moves nothing"),
            Reported("delivered", message_key="k6"),  # failed stays failed
            Reported("failed", message_key="nobody"),
        ],
        at=later,
    )
    assert changed == 2
    assert _states(store) == {
        "k1": ("failed", "delivery failed: 결번"),
        "k2": ("sent", None),
        "k3": ("sent", "cut"),  # the provider had it: not resent
        "k4": ("sent", None),
        "k5": ("sent", None),
        "k6": ("failed", "refused"),
    }
    assert claim_due(store, later + timedelta(days=1), 100) == []
    assert store.sql("SELECT sent_at FROM outbox WHERE message_key = 'k3'") == [(later,)]


def test_callbacks_through_the_server_fail_the_outbox_row_with_the_reason(tmp_path: Path) -> None:
    server = Server(tmp_path / "shop")
    with Workspace(server.workspace).open_store() as store:
        _sent(
            store,
            {
                "k1": Outcome("k1", "sent", provider_id="gw-1"),
                "k2": Outcome("k2", "sent", provider_id="gw-2"),
                "k3": Outcome("k3", "unknown", "cut"),
                "k4": Outcome("k4", "sent", provider_id="gw-4"),
            },
        )
    server.args = ("--no-recommender", "--run-at", "off")
    server.start()
    try:
        with server.client(server.secret_key) as client:
            answer = client.post(
                "/v1/messages/callbacks",
                json={
                    "results": [
                        {
                            "status": "failed",
                            "providerId": "gw-1",
                            "reason": "수신 거부된 번호",
                            "eventId": "e1",
                        },
                        {"status": "delivered", "messageKey": "k2", "eventId": "e2"},
                        {"status": "delivered", "messageKey": "k3", "eventId": "e3"},
                        {"status": "failed", "messageKey": "k4", "eventId": "e4"},
                    ]
                },
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["recorded"] == 4
            again = client.post(  # sent again: the same row, no change
                "/v1/messages/callbacks",
                json={
                    "results": [{"status": "failed", "providerId": "gw-1", "reason": "x", "eventId": "e1"}]
                },
            )
            assert again.status_code == 200 and again.json()["duplicates"] == 1
    finally:
        assert server.stop() == 0, server.output()
    with Workspace(server.workspace).open_store(read_only=True) as store:
        states = _states(store)
        events = sorted(store.sql("SELECT message_key, kind FROM message_events"))
    assert states == {
        "k1": ("failed", "delivery failed: 수신 거부된 번호"),
        "k2": ("sent", None),
        "k3": ("sent", "cut"),
        "k4": ("failed", "delivery failed: the provider gave no reason"),
    }
    assert events == [("k1", "failed"), ("k2", "delivered"), ("k3", "delivered"), ("k4", "failed")]
