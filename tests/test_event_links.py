"""The identity links a large write of events implies are found from its distinct id rows (a
visitor sends many events with the same ids): the same links, in the same order, with the same
ids and reasons as from every event one by one."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from shopmind.events import EVENT_SCHEMA, LINK_COLUMNS, implied_links
from shopmind.store import Store
from shopmind.store import _identity_tables as identity_tables

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _events(n: int, seed: int) -> pa.Table:
    rng = random.Random(seed)
    kinds = ["page_view", "product_view", "identify", "alias", "add_to_cart"]

    def maybe(prefix: str, k: int, none: float) -> str | None:
        return None if rng.random() < none else f"{prefix}{rng.randrange(k)}"

    rows = {
        "message_id": [f"m{i}" for i in range(n)],
        "type": [rng.choice(kinds) for _ in range(n)],
        "anonymous_id": [maybe("a", 40, 0.1) for _ in range(n)],
        "user_id": [maybe("u", 15, 0.5) for _ in range(n)],
        "previous_id": [maybe("p", 10, 0.7) for _ in range(n)],
        "email_hash": [maybe("e", 12, 0.8) for _ in range(n)],
        "phone_hash": [maybe("t", 12, 0.9) for _ in range(n)],
    }
    # every event needs an anonymous or a user id
    rows["anonymous_id"] = [
        a if a or u else "a0" for a, u in zip(rows["anonymous_id"], rows["user_id"], strict=True)
    ]
    rows |= {"event_time": [AT] * n, "received_at": [AT] * n, "source": ["server"] * n}
    fields = [EVENT_SCHEMA.field(name) for name in rows]
    return pa.Table.from_pydict(rows, schema=pa.schema(fields))


def _links(store: Store) -> list[tuple[object, ...]]:
    return store.sql("SELECT link_id, a, b, reason, merged FROM identity_links ORDER BY link_id")


def test_a_large_write_links_as_its_events_one_by_one(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    events = _events(5_000, seed=3)  # above the size from which rows are made distinct first
    store.write_events(events)
    with Store(":memory:") as one_by_one:
        # every event's row converted and read, as for a small write
        monkeypatch.setattr(identity_tables, "_DISTINCT_FROM", events.num_rows + 1)
        one_by_one.write_events(events)
        expected = _links(one_by_one)

    assert _links(store) == expected
    assert len(expected) > 100  # the mix makes many different links: the test compares something
    assert {r[3] for r in expected} == {"event", "identify", "alias", "contact"}
    # and those are the links of every event's row, each pair once
    pairs = implied_links(zip(*(events.column(c).to_pylist() for c in LINK_COLUMNS), strict=True))
    assert {(a, b) for a, b, _ in pairs} == {(r[1], r[2]) for r in expected}
