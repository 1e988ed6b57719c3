"""The streamed synthetic shop (``demo.stream_shop``): cohort by cohort, identical run to run, ids
unique across the whole shop, the shop's own catalogue and weather, and no cohort kept alive."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shopmind.core import InvalidInputError
from shopmind.demo import (
    EVENTS_PER_CUSTOMER_DAY,
    ShopChunk,
    ShopStream,
    customers_for_events,
    generate_shop,
    stream_shop,
)
from shopmind.events import EVENT_SCHEMA, ORDER_LINE_SCHEMA, ORDER_SCHEMA

DAYS = 40
SEED = 11
EVENTS = 60_000
CHUNK = 15_000


def _digest(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


@pytest.fixture(scope="module")
def stream() -> ShopStream:
    return stream_shop(days=DAYS, seed=SEED, events=EVENTS, chunk_events=CHUNK)


@pytest.fixture(scope="module")
def chunks(stream: ShopStream) -> list[ShopChunk]:
    return list(stream)


def test_members_are_split_into_cohorts_of_about_the_chunk_size(
    stream: ShopStream, chunks: list[ShopChunk]
) -> None:
    assert (
        stream.customers
        == customers_for_events(EVENTS, DAYS)
        == round(EVENTS / (EVENTS_PER_CUSTOMER_DAY * DAYS))
    )
    assert len(chunks) == len(stream.cohort_sizes) == 4
    assert sum(c.members for c in chunks) == stream.customers
    assert max(stream.cohort_sizes) - min(stream.cohort_sizes) <= 1
    events = [c.events.num_rows for c in chunks]
    # the generator's density over 40 days is ~10% above the long-run figure it is sized by
    assert all(0.75 * CHUNK < n < 1.35 * CHUNK for n in events), events
    assert 0.75 * EVENTS < sum(events) < 1.35 * EVENTS


def test_the_tables_have_the_stores_layouts(chunks: list[ShopChunk]) -> None:
    shop = generate_shop(customers=30, days=7, seed=SEED)
    for chunk in chunks:
        assert chunk.events.schema.equals(EVENT_SCHEMA)
        assert chunk.orders.schema.equals(ORDER_SCHEMA)
        assert chunk.order_lines.schema.equals(ORDER_LINE_SCHEMA)
        assert chunk.interests.schema.equals(shop.interests.schema)


def test_ids_never_repeat_across_cohorts(chunks: list[ShopChunk]) -> None:
    for table, column in (
        ("events", "message_id"),
        ("orders", "order_id"),
        ("order_lines", "line_key"),
    ):
        ids = pa.chunked_array([getattr(c, table).column(column) for c in chunks])
        assert pc.count_distinct(ids).as_py() == len(ids), f"{table}.{column} repeats"
    sessions = [set(c.events.column("session_id").to_pylist()) for c in chunks]
    devices = [set(c.events.column("anonymous_id").to_pylist()) for c in chunks]
    for i in range(len(chunks)):
        for j in range(i):
            assert not sessions[i] & sessions[j]
            assert not devices[i] & devices[j]


def test_member_ids_run_on_from_cohort_to_cohort(stream: ShopStream, chunks: list[ShopChunk]) -> None:
    first = 1
    for chunk in chunks:
        assert chunk.first_member == first
        numbers = {
            int(u[1:])
            for column in (chunk.events.column("user_id"), chunk.orders.column("customer_id"))
            for u in column.drop_null().to_pylist()
        }
        assert numbers, "a cohort's members do something"
        assert min(numbers) >= first and max(numbers) < first + chunk.members
        first += chunk.members
    assert first == stream.customers + 1
    assert chunks[0].events.column("user_id").drop_null()[0].as_py().startswith("m0")


def test_lines_and_events_belong_to_their_cohorts_orders(stream: ShopStream, chunks: list[ShopChunk]) -> None:
    start_us = int(np.datetime64(f"{stream.start}T00:00", "us").astype(np.int64)) - 9 * 3600 * 10**6
    end_us = start_us + DAYS * 86_400 * 10**6
    for chunk in chunks:
        orders = set(chunk.orders.column("order_id").to_pylist())
        assert set(chunk.order_lines.column("order_id").to_pylist()) == orders
        ordered = chunk.events.filter(pc.equal(chunk.events.column("type"), "order_completed"))
        assert set(ordered.column("order_id").to_pylist()) == orders
        times = pc.cast(chunk.events.column("event_time"), pa.int64())
        assert start_us <= pc.min(times).as_py() and pc.max(times).as_py() < end_us


def test_the_catalogue_and_weather_are_those_of_the_whole_shop_generator(stream: ShopStream) -> None:
    shop = generate_shop(customers=20, days=DAYS, seed=SEED)
    assert stream.products.equals(shop.products)
    assert stream.weather.equals(shop.weather)
    products = set(shop.products.column("product_id").to_pylist())
    for chunk in stream_shop(days=DAYS, seed=SEED, customers=300):
        assert set(chunk.order_lines.column("product_id").to_pylist()) <= products


def test_equal_arguments_give_identical_chunks_and_a_new_seed_another_shop(chunks: list[ShopChunk]) -> None:
    again = stream_shop(days=DAYS, seed=SEED, events=EVENTS, chunk_events=CHUNK)
    for first, second in zip(chunks, again, strict=True):
        for table in ("events", "orders", "order_lines", "interests"):
            assert _digest(getattr(first, table)) == _digest(getattr(second, table)), table
    other = next(iter(stream_shop(days=DAYS, seed=SEED + 1, events=EVENTS, chunk_events=CHUNK)))
    assert _digest(other.events) != _digest(chunks[0].events)


def test_a_cohort_does_not_depend_on_the_cohorts_before_it(chunks: list[ShopChunk]) -> None:
    # the same members in another split: the stream of cohort 0 is the same, so are its draws
    bigger = next(iter(stream_shop(days=DAYS, seed=SEED, customers=chunks[0].members, chunk_events=CHUNK)))
    assert _digest(bigger.events) == _digest(chunks[0].events)


def test_iterating_keeps_no_earlier_cohort_in_memory() -> None:
    # the fault it guards against: the whole shop held at once (generate_shop's Arrow tables)
    stream = stream_shop(days=DAYS, seed=SEED, events=80_000, chunk_events=10_000)
    held = []
    base = pa.total_allocated_bytes()
    for chunk in stream:
        held.append(pa.total_allocated_bytes() - base)
        del chunk
    assert len(held) == len(stream.cohort_sizes) >= 8
    one = held[0]
    assert one > 0
    assert max(held) < 2.5 * one, held  # one cohort (and the next being drawn), never the shop


def test_members_and_events_together_make_a_sparser_shop() -> None:
    # the big shop: many members (7 million) who each come rarely (100 million events)
    stream = stream_shop(days=DAYS, seed=SEED, customers=6_000, events=30_000, chunk_events=CHUNK)
    assert stream.customers == 6_000
    assert stream.activity == pytest.approx(30_000 / (EVENTS_PER_CUSTOMER_DAY * 6_000 * DAYS))
    chunks = list(stream)
    assert sum(c.members for c in chunks) == 6_000
    events = sum(c.events.num_rows for c in chunks)
    assert 0.75 * 30_000 < events < 1.35 * 30_000, events
    dense = stream_shop(days=DAYS, seed=SEED, customers=6_000)
    assert dense.activity == 1.0 and dense.expected_events > 3 * stream.expected_events


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"days": 30, "seed": 1}, "events"),
        ({"days": 30, "seed": 1, "events": 10_000, "customers": 10}, "events"),  # denser than the demo
        ({"days": 30, "seed": 1, "events": 1_000, "customers": 100_000}, "events"),  # too sparse
        ({"days": 30, "seed": 1, "events": 0}, "events"),
        ({"days": 30, "seed": 1, "events": 10**12}, "events"),
        ({"days": 30, "seed": 1, "customers": -3}, "customers"),
        ({"days": 0, "seed": 1, "events": 1000}, "days"),
        ({"days": 30, "seed": -1, "events": 1000}, "seed"),
        ({"days": 30, "seed": 1, "events": 1000, "chunk_events": 10}, "chunk_events"),
        ({"days": 30, "seed": 1, "events": True}, "events"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        stream_shop(**kwargs)  # type: ignore[arg-type]
    assert field in {e.field for e in caught.value.errors}, caught.value
