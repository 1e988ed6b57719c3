"""Events stored as they arrive over the API: one transaction per group, keys inserted as new first
and looked up only when one was stored before (the transaction is then redone), duplicates by
message id, orders of new events only, and the rejected kept in the quarantine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from shopmind.core import FixedClock
from shopmind.events import Event, events_to_arrow, validate_event
from shopmind.ingest import store_incoming, validate_incoming
from shopmind.ingest._live import event_rows
from shopmind.store import Store

from .conftest import NOW


def _raw(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "messageId": f"m{i}",
        "type": "product_view",
        "anonymousId": f"a{i % 3}",
        "userId": f"u{i % 2}",
        "timestamp": (NOW - timedelta(minutes=i)).isoformat(),
        "context": {"device": {"type": "mobile"}, "location": {"region": "서울"}},
        "properties": {"product_id": f"P{i}", "price": 1000 + i, "colour": "red"},
        **extra,
    }


def _order(i: int, order_id: str) -> dict[str, Any]:
    return {
        "messageId": f"o{i}",
        "type": "order_completed",
        "userId": "u1",
        "properties": {"order_id": order_id, "products": [{"product_id": "P1", "price": 500, "quantity": 2}]},
    }


def _validated(raws: list[dict[str, Any]]) -> tuple[list[Event], list[Any]]:
    return validate_incoming(raws, received_at=NOW, hasher=None)


@pytest.fixture
def store() -> Store:
    return Store(":memory:", clock=FixedClock(NOW))


def test_event_rows_are_what_events_to_arrow_gives() -> None:
    events, _ = _validated([_raw(i) for i in range(20)] + [_order(1, "K-1")])
    assert event_rows(events).equals(events_to_arrow(events))
    assert event_rows([]).equals(events_to_arrow([]))


def test_event_rows_convert_repeated_and_missing_values_alike() -> None:
    # columns of one repeated value and columns no event uses take shortcuts: the same table
    first, _ = _validated([_raw(i) for i in range(3)])
    later, _ = validate_incoming(
        [_raw(7), _order(2, "K-2")], received_at=NOW + timedelta(seconds=1), hasher=None
    )
    snake = {**_raw(9), "anonymous_id": "a9"}  # snake_case: the full validation's event
    del snake["anonymousId"]
    full = [validate_event(snake, received_at=NOW)]
    for events in (first, first[:1], later, first + later + full):
        assert event_rows(events).equals(events_to_arrow(events))


def test_invalid_events_are_listed_by_position_among_valid_ones() -> None:
    raws: list[Any] = [_raw(0), {"type": "product_view"}, "not an event", _raw(3), {"event": "Wish"}]
    events, rejected = _validated(raws)
    assert [e.message_id for e in events] == ["m0", "m3"]
    assert [r.index for r in rejected] == [1, 2, 4]
    assert all(r.errors for r in rejected)


def test_a_group_of_new_events_is_stored_in_one_go(store: Store) -> None:
    events, rejected = _validated([_raw(1), _raw(2), _raw(2), {"type": "nonsense"}, _order(3, "K-1")])
    assert store_incoming(store, events, rejected) == [False, False, True, False]
    assert store.scalar("SELECT count(*) FROM events") == 3
    assert store.sql("SELECT order_id FROM orders") == [("K-1",)]
    assert store.scalar("SELECT count(*) FROM order_lines") == 1
    assert store.scalar("SELECT count(*) FROM quarantine WHERE source = 'api'") == 1
    assert store.scalar("SELECT count(*) FROM identity_links") > 0


def test_a_group_with_a_stored_event_is_redone_knowing_it(store: Store) -> None:
    first, _ = _validated([_raw(1), _order(2, "K-1")])
    store_incoming(store, first, [])
    links = store.scalar("SELECT count(*) FROM identity_links")
    # the re-sent event and order come back beside new ones, one of them invalid
    again, rejected = _validated([_raw(3), _raw(1), _order(2, "K-1"), _order(4, "K-2"), {"type": "x"}])
    assert store_incoming(store, again, rejected) == [False, True, True, False]
    assert store.scalar("SELECT count(*) FROM events") == 4
    assert sorted(store.sql("SELECT order_id FROM orders")) == [("K-1",), ("K-2",)]
    assert store.scalar("SELECT count(*) FROM order_lines") == 2
    assert store.scalar("SELECT count(*) FROM quarantine") == 1  # once, not once per attempt
    # the identity links of the first, rolled-back attempt are not believed stored
    stored = store.scalar("SELECT count(*) FROM identity_links")
    assert stored >= links and stored == len(list(store.identity_graph().links()))


def test_a_new_order_event_reusing_a_stored_order_id_keeps_the_first_order(store: Store) -> None:
    store_incoming(store, *_validated([_order(1, "K-1")]))
    assert store_incoming(store, *_validated([_order(2, "K-1")])) == [False]  # a new event...
    assert store.scalar("SELECT count(*) FROM events") == 2
    assert store.scalar("SELECT count(*) FROM orders") == 1  # ...of an order already stored


def test_write_events_names_the_keys_stored_before(store: Store) -> None:
    events, _ = _validated([_raw(i) for i in range(5)])
    assert store.write_events(events_to_arrow(events)).stored_before == frozenset()
    more, _ = _validated([_raw(i) for i in range(3, 8)])
    result = store.write_events(events_to_arrow(more))
    assert (result.inserted, result.duplicates, result.stored_before) == (3, 2, frozenset({"m3", "m4"}))
    # inside a caller's transaction the keys are looked up first: no retry is possible there
    with store.atomically():
        inside = store.write_events(events_to_arrow(more))
    assert (inside.inserted, inside.duplicates) == (0, 5)
    assert store.scalar("SELECT count(*) FROM events") == 8


def test_a_failure_inside_a_group_stores_nothing(store: Store) -> None:
    events, _ = _validated([_raw(1), _raw(2)])

    def broken() -> None:
        store.write_events(events_to_arrow(events))
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError):
        store.write_atomically(broken)
    assert store.scalar("SELECT count(*) FROM events") == 0
    assert store.scalar("SELECT count(*) FROM identity_links") == 0
    assert list(store.identity_graph().links()) == []


def test_validated_rows_keep_the_event_schema() -> None:
    events, _ = _validated([_raw(1)])
    rows = event_rows(events)
    assert rows.schema.equals(events_to_arrow(events).schema)
    assert rows.column("price").to_pylist() == [1001.0]
    assert isinstance(rows, pa.Table) and validate_event(_raw(1), received_at=NOW) == events[0]
