"""What the dashboard reads (``shopmind.insights``) against the store's own rows, on a synthetic
shop whose every job has run: counts add up, ranges count what numpy counts, pages do not overlap,
nothing is lost between the segment map, the movement and the lists."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind import insights
from shopmind.segments import SEGMENTS, create_segment, member_list, saved_segments
from shopmind.store import Store
from tests.shops import understood_workspace


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = understood_workspace(tmp_path_factory.mktemp("insights") / "shop", customers=800)
    with Store(folder / "shop.duckdb") as opened:
        yield opened


def _run(store: Store, job: str = "customer_intelligence") -> insights.Run:
    found = insights.latest_run(store, job)
    assert found is not None
    return found


def test_overview_counts_add_up_to_the_stored_rows(store: Store) -> None:
    found = insights.overview(store)
    profiles = store.scalar("SELECT count(DISTINCT profile_id) FROM profiles")
    assert found.members + found.anonymous == profiles
    assert found.members == store.scalar(
        "SELECT count(DISTINCT profile_id) FROM profiles WHERE kind = 'user'"
    )
    lines = store.sql(
        "SELECT sum(l.quantity * l.unit_price) FROM order_lines l JOIN orders o USING (order_id) WHERE NOT o.is_return"
    )[0][0]
    assert found.revenue == pytest.approx(lines)
    assert sum(n for _, n, _ in found.days) == found.orders  # 90 days: every day is in the trend
    assert sum(r for _, _, r in found.days) == pytest.approx(found.revenue)
    assert found.pareto is not None and 0.2 < found.pareto.revenue_share_of_top <= 1.0
    assert found.vips > 0 and 0 < (found.vip_revenue_share or 0) <= 1
    assert {r.job for r in found.runs} == {
        "customer_intelligence",
        "churn_risk",
        "purchase_probability",
        "vip_lookalike",
        "preferences",
    }


def test_segment_map_movement_and_lists_agree(store: Store) -> None:
    runs = insights.runs_of(store, "customer_intelligence")
    assert len(runs) == 2 and runs[0].as_of > runs[1].as_of
    later, earlier = runs
    sizes = insights.segment_map(store, later)
    assert [s.key for s in sizes] == list(SEGMENTS)
    stored = dict(
        store.sql("SELECT segment, count(*) FROM segment_members WHERE run_id = ? GROUP BY 1", [later.run_id])
    )
    assert {s.key: s.customers for s in sizes if s.customers} == {
        k: v for k, v in stored.items() if k in SEGMENTS
    }
    flows = insights.movement(store, earlier, later)
    assert sum(m.customers for m in flows) == sum(s.customers for s in sizes)
    before = {s.key: s.customers for s in insights.segment_map(store, earlier)}
    for key, count in before.items():  # every profile of the earlier run went somewhere
        assert sum(m.customers for m in flows if m.source == key) <= count

    total, first = insights.segment_customers(store, later, "vip", limit=5)
    _, second = insights.segment_customers(store, later, "vip", offset=5, limit=5)
    assert total == stored["vip"]
    assert not {r["profile_id"] for r in first} & {r["profile_id"] for r in second}
    revenue = [r["revenue"] for r in first + second]
    assert revenue == sorted(revenue, reverse=True)


def test_bands_and_distribution_cover_every_score(store: Store) -> None:
    run, name = insights.score_run(store, "purchase_probability") or (None, "")
    assert run is not None and name.startswith("purchase_probability_")
    values = np.array(
        [
            v
            for (v,) in store.sql(
                "SELECT value FROM scores WHERE run_id = ? AND name = ?", [run.run_id, name]
            )
        ]
    )
    bands = insights.bands(store, run, name)
    assert len(bands) == 20 and sum(b.profiles for b in bands) == len(values)
    assert sum(b.expected for b in bands) == pytest.approx(values.sum())
    clv = insights.score_run(store, "clv_12m")
    assert clv is not None
    histogram = insights.distribution(store, *clv)
    assert sum(histogram.counts) == histogram.total > 0


@settings(max_examples=40, deadline=None, derandomize=True)
@given(low=st.integers(0, 100), high=st.integers(0, 100))
def test_an_audience_is_exactly_the_profiles_in_its_range(store: Store, low: int, high: int) -> None:
    run, name = insights.score_run(store, "purchase_probability") or (None, "")
    assert run is not None
    a, b = sorted((low / 100, high / 100))
    values = np.array(
        [
            v
            for (v,) in store.sql(
                "SELECT value FROM scores WHERE run_id = ? AND name = ?", [run.run_id, name]
            )
        ]
    )
    inside = (values >= a) & ((values <= b) if b >= 1.0 else (values < b))
    size = insights.audience_size(store, run, name, a, b)
    assert size.profiles == int(inside.sum())
    assert size.expected == pytest.approx(values[inside].sum())
    members = insights.audience(store, run, name, a, b)
    assert len(members) == size.profiles
    assert all(a <= m[name] <= b for m in members)


def test_a_saved_score_band_keeps_its_members(store: Store) -> None:
    """A band of scores saved from the predictions page is a saved segment whose members are the
    band's (the audiences of earlier versions became segments)."""
    run, name = insights.score_run(store, "purchase_probability") or (None, "")
    assert run is not None
    expected = {m["profile_id"] for m in insights.audience(store, run, name, 0.1, 0.5)}
    band = {
        "name": {"ko": "10-50%", "en": "10-50%"},
        "conditions": [
            {"kind": "profile", "field": name, "op": ">=", "value": 0.1},
            {"kind": "profile", "field": name, "op": "<", "value": 0.5},
        ],
    }
    saved = create_segment(store, band, as_of=run.as_of)
    assert saved.members == len(expected) > 0
    assert {s.segment_id: s for s in saved_segments(store)}[saved.segment_id].members == len(expected)
    total, rows = member_list(store, saved.segment_id, limit=None)
    assert total == len(expected) and {r["profile_id"] for r in rows} == expected


def test_products_by_revenue_add_up_and_search(store: Store) -> None:
    total, rows = insights.products(store, limit=10_000)
    assert total == len(rows) >= store.scalar("SELECT count(*) FROM products")
    sold = store.scalar(
        "SELECT sum(quantity * unit_price) FROM order_lines WHERE is_product AND NOT is_return"
    )
    assert sum(r["revenue"] for r in rows) == pytest.approx(sold)
    assert [r["revenue"] for r in rows] == sorted((r["revenue"] for r in rows), reverse=True)
    category = rows[0]["category"]
    found, matching = insights.products(store, search=category, limit=10_000)
    assert 0 < found < total and all(category in (r["category"] or "") + (r["name"] or "") for r in matching)
    one = insights.product(store, rows[0]["product_id"])
    assert one is not None and one["revenue"] == pytest.approx(rows[0]["revenue"])
    assert insights.product(store, "no-such-product") is None


def test_model_cards_are_those_of_the_latest_runs(store: Store) -> None:
    cards = {c["name"]: c for c in insights.model_cards(store)}
    assert {"churn_risk", "vip_lookalike"} <= set(cards) and any(n.startswith("purchase") for n in cards)
    for card in cards.values():
        assert 0.5 <= card["auc"] <= 1 and card["lift"] and card["reliability"]


def test_a_reader_reads_while_the_store_writes(tmp_path: Path) -> None:
    with Store(tmp_path / "shop.duckdb") as store:
        reader = store.reader()
        errors: list[BaseException] = []

        def write() -> None:
            try:
                for i in range(50):
                    with store.atomically():
                        store.sql(
                            "INSERT INTO segments VALUES (?, 'x', 'x', NULL, NULL, '{}', now(), now(), NULL)",
                            [f"a{i}"],
                        )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        seen = [reader.scalar("SELECT count(*) FROM segments") for _ in range(50)]
        thread.join()
        assert not errors
        assert seen == sorted(seen)  # never a half-written state going backwards
        assert reader.scalar("SELECT count(*) FROM segments") == 50
        reader.close()


def test_no_insight_reads_the_event_table(store: Store) -> None:
    """The dashboard's figures come from the jobs' results and the orders: with the event table
    out of reach (renamed inside a transaction that is rolled back), every one still answers."""
    latest = _run(store)
    earlier = insights.runs_of(store, "customer_intelligence")[-1]
    purchase = insights.score_run(store, "purchase_probability")
    assert purchase is not None
    store.sql("BEGIN TRANSACTION")
    try:
        store.sql("ALTER TABLE events RENAME TO events_out_of_reach")
        hidden = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'"
        assert store.scalar(hidden) == 0  # (a failed query would abort the transaction)
        assert insights.overview(store).members > 0
        assert insights.segment_map(store, latest)
        assert insights.movement(store, earlier, latest)
        assert insights.segment_customers(store, latest, "vip", limit=5)[0] > 0
        assert sum(b.profiles for b in insights.bands(store, *purchase)) > 0
        assert insights.audience_size(store, *purchase, 0.2, 0.6).profiles >= 0
        assert insights.model_cards(store)
        total, rows = insights.products(store, limit=5)
        assert total > 0 and insights.product(store, rows[0]["product_id"]) is not None
        assert insights.regions(store)
        figures = insights.kpis(store)  # the visit KPIs come from the run's per-day counts
        assert figures["visit_conversion"].value is not None and figures["repurchase_rate"].value is not None
    finally:
        store.sql("ROLLBACK")
    assert store.scalar("SELECT count(*) FROM events") > 0


def test_buyers_are_counted_once_and_include_guests(store: Store) -> None:
    """The overview, the customer-intelligence run and the predictions page count the same buyers
    (issue 17: the overview left guest buyers out)."""
    found = insights.overview(store)
    run = _run(store)
    in_run = store.scalar("SELECT count(*) FROM scores WHERE run_id = ? AND name = 'revenue'", [run.run_id])
    clv = store.scalar("SELECT count(*) FROM scores WHERE run_id = ? AND name = 'clv_12m'", [run.run_id])
    assert found.buyers == insights.counts(store).buyers == in_run == clv
    members_who_bought = store.scalar(
        "SELECT count(DISTINCT customer_id) FROM orders WHERE customer_id IS NOT NULL AND NOT is_return"
    )
    assert found.buyers > members_who_bought, "guests who bought are buyers too"
    people = insights.counts(store)
    assert people.customers == people.members + people.anonymous < people.identifiers
