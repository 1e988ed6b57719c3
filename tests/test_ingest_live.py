"""Events stored as they arrive over the API: one transaction per group, keys inserted as new first
and looked up only when one was stored before (the transaction is then redone), duplicates by
message id, orders of new events only, and the rejected kept in the quarantine."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest

from shopmind.core import FixedClock
from shopmind.events import Event, OrderLine, events_to_arrow, lines_from_properties, validate_event
from shopmind.ingest import LiveWriter, store_incoming, validate_incoming
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


def test_every_event_keeps_its_fields_in_the_order_event_rows_reads_them() -> None:
    # event_rows transposes the events' dicts: both ways of making an event must fill them alike
    fast, _ = _validated([_raw(1), _order(2, "K-2")])
    snake = {**_raw(9), "anonymous_id": "a9"}
    del snake["anonymousId"]
    full = validate_event(snake, received_at=NOW)
    for event in [*fast, full]:
        assert list(vars(event)) == [f.name for f in dataclasses.fields(Event)]


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


def _identify(i: int, user: str) -> dict[str, Any]:
    return {"messageId": f"i{i}", "type": "identify", "anonymousId": f"a{i}", "userId": user}


def _alias(i: int, previous: str, user: str) -> dict[str, Any]:
    return {"messageId": f"l{i}", "type": "alias", "previousId": previous, "userId": user}


def _groups() -> list[list[dict[str, Any]]]:
    """A few requests' worth of events: views, identify and alias calls, orders, a re-sent order,
    an invalid event and one sent twice in a request."""
    return [
        [_raw(1), _raw(2), _order(3, "K-1"), _identify(4, "u7")],
        [_raw(5), _alias(6, "a9", "u7"), _order(7, "K-2"), _order(3, "K-1")],
        [_order(8, "K-1"), _raw(9), _identify(10, "u8"), {"type": "nonsense"}, _raw(9), _order(11, "K-3")],
    ]


def _derived(store: Store) -> tuple[Any, ...]:
    """What is derived from the events: orders, their lines, and who is whom."""
    return (
        store.sql("SELECT * FROM orders ORDER BY order_id"),
        store.sql("SELECT * FROM order_lines ORDER BY line_key"),
        store.identity_graph().groups(),
    )


def test_the_live_writer_stores_what_store_incoming_does_once_flushed(store: Store) -> None:
    reference = Store(":memory:", clock=FixedClock(NOW))
    writer = LiveWriter()
    for raws in _groups():
        events, rejected = _validated(raws)
        assert writer.write(store, events, rejected) == store_incoming(reference, events, rejected)
    # the events are stored; what derives from them waits for the flush
    assert store.sql("SELECT * FROM events ORDER BY message_id") == reference.sql(
        "SELECT * FROM events ORDER BY message_id"
    )
    assert store.sql("SELECT line_no, reason FROM quarantine") == reference.sql(
        "SELECT line_no, reason FROM quarantine"
    )
    assert store.scalar("SELECT count(*) FROM quarantine") == 1
    assert store.scalar("SELECT count(*) FROM orders") == 0
    assert store.scalar("SELECT count(*) FROM identity_links") == 0
    assert writer.pending > 0 and writer.age() >= 0
    writer.flush(store)
    assert writer.pending == 0 and writer.age() == 0
    assert _derived(store) == _derived(reference)
    assert store.scalar("SELECT count(*) FROM orders") == 3  # K-1 once: re-sent and reused ids
    writer.flush(store)  # nothing queued: nothing written twice
    assert _derived(store) == _derived(reference)


def test_recover_derives_what_a_stop_before_the_flush_lost(store: Store) -> None:
    reference = Store(":memory:", clock=FixedClock(NOW))
    first, rest = _groups()[0], _groups()[1:]
    writer = LiveWriter()
    events, rejected = _validated(first)
    writer.write(store, events, rejected)
    store_incoming(reference, events, rejected)
    writer.flush(store)
    for raws in rest:  # stored, then the process dies before flushing
        events, rejected = _validated(raws)
        writer.write(store, events, rejected)
        store_incoming(reference, events, rejected)
    assert _derived(store) != _derived(reference)
    orders, links = LiveWriter().recover(store)
    assert orders == 2 and links > 0  # K-2 and K-3; the alias and the second identify
    assert _derived(store) == _derived(reference)
    assert LiveWriter().recover(store) == (0, 0)  # nothing is derived twice


def test_an_order_keeps_its_lines_in_the_stored_properties() -> None:
    raw = _order(1, "K-1")
    raw["properties"] |= {
        "coupon": "WELCOME10",
        "products": [
            {"product_id": "P1", "price": 500, "quantity": 2, "name": "김치", "sku": "x"},
            {"product_id": "P2", "price": 1250.5, "category": "라면"},
        ],
    }
    events, _ = _validated([raw])
    stored = events_to_arrow(events).column("properties")[0].as_py()
    assert (
        lines_from_properties(stored)
        == events[0].lines
        == (
            OrderLine("P1", 2, 500.0, "김치", None),
            OrderLine("P2", 1, 1250.5, None, "라면"),
        )
    )
    assert '"coupon":"WELCOME10"' in stored  # the other properties stay as they were
    assert lines_from_properties(events[0].properties) == ()  # the event itself keeps only those
    assert event_rows(events).equals(events_to_arrow(events))
