"""Tastes and habits: the planted device-by-hour habit and favourite categories of the synthetic
shop are recovered, taste scores and price bands equal a naive pandas computation, nothing after
``as_of`` is used, thin histories fall back, and the same inputs give the same output."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import ibis
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopmind.demo import PlantedTruths
from shopmind.features import best_time_and_device, customer_taste, send_channel, taste_scores
from shopmind.pipeline import load_demo_shop
from shopmind.store import Store

DAYS = 60
START = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=9)  # 2026-01-01 00:00 in Seoul
END = START + timedelta(days=DAYS)
MIDWAY = START + timedelta(days=35, hours=15)  # 15:00 in Seoul, mid-period
EVENING = range(19, 24)


@dataclass(frozen=True)
class Shop:
    store: Store
    truths: PlantedTruths
    taste: pd.DataFrame
    habits: pd.DataFrame

    def table(self, name: str) -> ibis.Table:
        return self.store.table(name)


def _taste(store: Store, as_of: datetime, **kwargs: Any) -> ibis.Table:
    t = store.table
    return customer_taste(
        t("events"),
        t("orders"),
        t("order_lines"),
        t("products"),
        t("profiles"),
        t("external_interests"),
        as_of,
        **kwargs,
    )


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    with Store(":memory:") as store:
        loaded = load_demo_shop(store, customers=1500, days=DAYS, seed=7)
        habits = best_time_and_device(store.table("events"), store.table("profiles"), END).to_pandas()
        yield Shop(store, loaded.truths, _taste(store, END).to_pandas(), habits)


def _members(frame: pd.DataFrame, users: frozenset[str] | set[str]) -> pd.DataFrame:
    return frame[frame["profile_id"].isin({f"user:{u}" for u in users})]


# -- habits ----------------------------------------------------------------------------------------


def test_planted_device_hour_habit_is_found(shop: Shop) -> None:
    (habit,) = shop.truths.device_hour_habits
    theirs = _members(shop.habits, habit.user_ids)
    assert len(theirs) >= 0.9 * len(habit.user_ids)

    browsed = theirs[theirs["browse_sessions"] > 0]
    assert len(browsed) >= 50
    morning_mobile = browsed["browse_hour"].between(6, 9) & (browsed["browse_device"] == habit.browse_device)
    assert morning_mobile.mean() >= 0.85

    bought = theirs[theirs["buy_sessions"] > 0]
    assert len(bought) >= 50
    night_desktop = bought["buy_hour"].between(20, 23) & (bought["buy_device"] == habit.buy_device)
    assert night_desktop.mean() >= 0.75

    assert theirs["send_hour"].isin(EVENING).mean() >= 0.75
    assert (theirs["send_channel"] == "email").mean() >= 0.7  # they buy on the desktop web

    # and it is their habit, not the shop's: other buyers rarely look like that
    others = shop.habits[
        shop.habits["profile_id"].str.startswith("user:")
        & ~shop.habits["profile_id"].isin(theirs["profile_id"])
        & (shop.habits["buy_sessions"] > 0)
    ]
    assert len(others) >= 200
    assert (others["buy_hour"].between(20, 23) & (others["buy_device"] == "desktop")).mean() < 0.3


def test_habit_columns_are_consistent(shop: Shop) -> None:
    h = shop.habits
    profiles = {p for (p,) in shop.store.sql("SELECT DISTINCT profile_id FROM profiles")}
    assert profiles <= set(h["profile_id"])
    assert h["profile_id"].is_unique
    assert (h["sessions"] == h["browse_sessions"] + h["buy_sessions"]).all()
    for kind in ("browse", "buy"):
        assert (h[f"{kind}_by_hour"].map(len) == 24).all()
        assert (h[f"{kind}_by_weekday"].map(len) == 7).all()
        assert (h[f"{kind}_by_hour"].map(sum) == h[f"{kind}_sessions"]).all()
        assert (h[f"{kind}_by_weekday"].map(sum) == h[f"{kind}_sessions"]).all()
        seen = h[h[f"{kind}_sessions"] > 0]
        assert seen[f"{kind}_hour"].between(0, 23).all() and seen[f"{kind}_weekday"].between(0, 6).all()
        # the peak hour is one where they did come
        assert all(row[f"{kind}_by_hour"][int(row[f"{kind}_hour"])] > 0 for _, row in seen.iterrows())
        assert h.loc[h[f"{kind}_sessions"] == 0, f"{kind}_hour"].isna().all()
    assert h["send_hour"].between(0, 23).all()
    assert set(h["send_channel"]) <= {"app_push", "sms", "email"}
    assert (h["is_fallback"] == (h["sessions"] < 3)).all()
    assert set(h.loc[h["is_fallback"], "send_basis"]) == {"shop"}
    # a profile with one event (or none) gets the shop's best hour and channel, flagged
    thin = h[h["sessions"] <= 1]
    assert len(thin) > 0 and thin["is_fallback"].all()
    assert thin[["send_hour", "send_channel"]].drop_duplicates().shape[0] == 1


def _frame(rows: list[tuple[str, str, str, datetime, str, str]]) -> pd.DataFrame:
    """Tiny events: (user, session, type, time, device, channel)."""

    def text(values: list[str | None]) -> pd.Series:
        return pd.Series(values, dtype="string")

    return pd.DataFrame(
        {
            "message_id": text([f"e{i}" for i in range(len(rows))]),
            "type": text([r[2] for r in rows]),
            "user_id": text([r[0] for r in rows]),
            "anonymous_id": text([None] * len(rows)),
            "session_id": text([r[1] for r in rows]),
            "event_time": pd.to_datetime([r[3] for r in rows], utc=True),
            "device_type": text([r[4] for r in rows]),
            "channel": text([r[5] for r in rows]),
        }
    )


def _events(rows: list[tuple[str, str, str, datetime, str, str]]) -> ibis.Table:
    return ibis.memtable(_frame(rows))


def _profiles(*ids: str) -> ibis.Table:
    return ibis.memtable(
        pd.DataFrame({"identifier": list(ids), "profile_id": list(ids), "kind": ["user"] * len(ids)})
    )


def test_fallback_for_thin_histories() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    rows = []
    for d in range(4):  # a: browses on the phone app at 8h KST, buys on the desktop at 21h KST
        at = day + timedelta(days=d)
        rows += [
            ("a", f"a-m{d}", "product_view", at - timedelta(hours=1), "mobile", "app"),
            ("a", f"a-n{d}", "product_view", at + timedelta(hours=12), "desktop", "web"),
            ("a", f"a-n{d}", "order_completed", at + timedelta(hours=12, minutes=20), "desktop", "web"),
        ]
    rows.append(("b", "b-1", "product_view", day + timedelta(hours=5), "mobile", "web"))  # 14h KST
    events = _events(rows)
    profiles = _profiles("user:a", "user:b", "user:c")
    as_of = day + timedelta(days=10)
    out = best_time_and_device(events, profiles, as_of).to_pandas().set_index("profile_id")

    a = out.loc["user:a"]
    assert (a["browse_hour"], a["browse_device"], a["browse_channel"]) == (8, "mobile", "app")
    assert (a["buy_hour"], a["buy_device"], a["buy_channel"]) == (21, "desktop", "web")
    assert (a["send_hour"], a["send_channel"], a["send_basis"], a["is_fallback"]) == (
        21,
        "email",
        "profile",
        False,
    )
    assert a["browse_by_hour"][8] == 4 and a["buy_by_hour"][21] == 4
    assert a["buy_weekday"] in range(7)

    b = out.loc["user:b"]  # one event: its own peak is reported, the send time is the shop's
    assert (b["sessions"], b["browse_hour"], b["browse_device"]) == (1, 14, "mobile")
    assert (b["send_hour"], b["send_channel"], b["send_basis"], b["is_fallback"]) == (
        21,
        "email",
        "shop",
        True,
    )

    c = out.loc["user:c"]  # a known profile without events
    assert (c["sessions"], c["send_basis"], c["send_hour"]) == (0, "shop", 21)
    assert list(c["buy_by_hour"]) == [0] * 24

    # with segments, the fallback is the segment's best time
    segments = ibis.memtable(pd.DataFrame({"profile_id": ["user:b", "user:b"], "segment": ["z", "y"]}))
    seg = best_time_and_device(events, profiles, as_of, segments=segments).to_pandas().set_index("profile_id")
    assert (seg.loc["user:b", "send_basis"], seg.loc["user:b", "send_hour"]) == ("segment", 14)
    assert seg.loc["user:b", "send_channel"] == "sms"  # mobile web
    assert seg.loc["user:c", "send_basis"] == "shop" and seg.loc["user:a", "send_basis"] == "profile"


def test_send_channel_mapping() -> None:
    t = ibis.memtable(
        pd.DataFrame(
            {
                "device_type": ["mobile", "mobile", "desktop", "tablet", "desktop", "unknown"],
                "channel": ["app", "web", "web", "web", "app", "unknown"],
            }
        )
    )
    got = t.select(c=send_channel(t.device_type, t.channel)).to_pandas()["c"].tolist()
    assert got == ["app_push", "sms", "email", "email", "app_push", "email"]


H_START = datetime(2026, 2, 1, tzinfo=UTC)
H_AS_OF = H_START + timedelta(days=10)


@dataclass(frozen=True)
class Compiled:
    """``best_time_and_device`` compiled once over unbound tables, run on a DuckDB connection
    whose ``events`` each example replaces (Ibis takes about a second to compile the expression,
    DuckDB milliseconds to run it)."""

    con: duckdb.DuckDBPyConnection
    sql: str = field(repr=False)

    def run(self, events: pd.DataFrame) -> pd.DataFrame:
        self.con.register("events", events)
        return self.con.execute(self.sql).df()


@pytest.fixture(scope="module")
def compiled() -> Iterator[Compiled]:
    events = ibis.table(ibis.memtable(_frame([])).schema(), name="events")
    profiles = ibis.table({"identifier": "string", "profile_id": "string", "kind": "string"}, name="profiles")
    sql = ibis.to_sql(best_time_and_device(events, profiles, H_AS_OF), dialect="duckdb")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("profiles", _profiles("user:a", "user:b", "user:c").to_pandas())
    yield Compiled(con, sql)
    con.close()


session_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 20 * 24 - 1),  # hours since H_START (UTC); as_of is at 240
        st.sampled_from(["mobile", "desktop"]),
        st.booleans(),  # the session ends with an order
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(sessions=session_rows)
def test_habits_see_only_the_past_and_count_sessions_like_pandas(
    compiled: Compiled, sessions: list[tuple[str, int, str, bool]]
) -> None:
    rows = []
    for i, (user, hour, device, buys) in enumerate(sessions):
        at = H_START + timedelta(hours=hour, minutes=50)
        rows.append((user, f"s{i}", "page_view", at, device, "web"))
        if buys:  # the order comes 20 minutes later, in the next hour
            rows.append((user, f"s{i}", "order_completed", at + timedelta(minutes=20), device, "web"))
    events = _frame(rows)
    got = compiled.run(events)
    past = compiled.run(events[events["event_time"] < H_AS_OF])
    pd.testing.assert_frame_equal(got, past)

    # naive: a session counts at the KST hour of its first event, if that came before as_of, and
    # is a buying session if its order came before as_of too
    counts = {(u, k): [0] * 24 for u in "abc" for k in ("browse", "buy")}
    for user, hour, _, buys in sessions:
        opened = H_START + timedelta(hours=hour, minutes=50)
        if opened < H_AS_OF:
            kind = "buy" if buys and opened + timedelta(minutes=20) < H_AS_OF else "browse"
            counts[user, kind][(hour + 9) % 24] += 1
    assert sorted(got["profile_id"]) == ["user:a", "user:b", "user:c"]
    for _, row in got.iterrows():
        user = row["profile_id"].removeprefix("user:")
        for kind in ("browse", "buy"):
            expected = counts[user, kind]
            assert list(row[f"{kind}_by_hour"]) == expected
            smoothed = [expected[h] + 0.5 * (expected[h - 1] + expected[(h + 1) % 24]) for h in range(24)]
            if sum(expected):
                assert smoothed[int(row[f"{kind}_hour"])] == max(smoothed)
            else:
                assert pd.isna(row[f"{kind}_hour"])
        assert row["sessions"] == sum(map(sum, (counts[user, "browse"], counts[user, "buy"])))
        assert row["is_fallback"] == (row["sessions"] < 3)


# -- taste -----------------------------------------------------------------------------------------


def _bought_lines(shop: Shop, as_of: datetime) -> pd.DataFrame:
    """Members' bought product lines before ``as_of``, with category - computed naively."""
    orders = shop.table("orders").to_pandas()
    lines = shop.table("order_lines").to_pandas()
    products = shop.table("products").to_pandas()[["product_id", "category", "brand"]]
    orders = orders[~orders["is_return"] & (orders["ordered_at"] < as_of) & orders["customer_id"].notna()]
    lines = lines[lines["is_product"] & ~lines["is_return"]]
    bought = orders.merge(lines, on="order_id").merge(products, on="product_id", how="left")
    return bought.assign(profile_id="user:" + bought["customer_id"])


def test_top_category_is_the_category_of_most_purchases(shop: Shop) -> None:
    """With purchases only and no decay, the scores are each category's share of the bought lines."""
    taste = _taste(shop.store, END, cart_weight=0.0, view_weight=0.0, half_life_days=None).to_pandas()
    taste = taste.set_index("profile_id")
    bought = _bought_lines(shop, END)
    counts = bought.groupby(["profile_id", "category"]).size().rename("n").reset_index()
    checked = 0
    for profile, group in counts.groupby("profile_id"):
        ranked = group.sort_values("n", ascending=False)
        top = taste.loc[profile, "top_categories"]
        assert top[0]["score"] == pytest.approx(ranked["n"].iloc[0] / group["n"].sum())
        if len(ranked) == 1 or ranked["n"].iloc[0] > ranked["n"].iloc[1]:
            assert taste.loc[profile, "favourite_category"] == ranked["category"].iloc[0]
            checked += 1
    assert checked >= 300

    # the price band of what they bought, likewise
    prices = bought.groupby("profile_id")["unit_price"].agg(["min", "mean", "max"])
    mine = taste.loc[prices.index]
    assert mine["bought_price_min"].tolist() == pytest.approx(prices["min"].tolist())
    assert mine["bought_price_avg"].tolist() == pytest.approx(prices["mean"].tolist())
    assert mine["bought_price_max"].tolist() == pytest.approx(prices["max"].tolist())
    assert (mine["purchases"] == bought.groupby("profile_id").size().loc[prices.index]).all()


def test_planted_favourite_categories_are_recovered(shop: Shop) -> None:
    members = shop.taste[shop.taste["profile_id"].str.startswith("user:")]
    signals = members["purchases"] + members["cart_adds"] + members["product_views"]
    active = members[signals >= 40]
    assert len(active) >= 50
    planted = active["profile_id"].str.removeprefix("user:").map(shop.truths.favourite_categories)
    assert (active["favourite_category"] == planted).mean() >= 0.8


def test_price_bands_and_scores_are_well_formed(shop: Shop) -> None:
    t = shop.taste
    assert t["profile_id"].is_unique
    for kind in ("bought", "viewed"):
        band = t[t[f"{kind}_price_min"].notna()]
        assert len(band) > 100
        lo, p10, avg, p90, hi = (band[f"{kind}_price_{s}"] for s in ("min", "p10", "avg", "p90", "max"))
        assert ((lo <= avg + 1e-9) & (avg <= hi + 1e-9)).all()
        assert ((lo <= p10 + 1e-9) & (p10 <= p90 + 1e-9) & (p90 <= hi + 1e-9)).all()
        assert (lo >= 0).all()
    assert t.loc[t["purchases"] == 0, "bought_price_avg"].isna().all()
    for column, name in (("top_categories", "category"), ("top_brands", "brand")):
        for entries in t[column]:
            assert [e["rank"] for e in entries] == list(range(1, len(entries) + 1))
            scores = [e["score"] for e in entries]
            assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
            assert len(entries) <= 5 and len({e[name] for e in entries}) == len(entries)
    with_top = t[t["top_categories"].map(len) > 0]
    assert (
        with_top["favourite_category"] == with_top["top_categories"].map(lambda e: e[0]["category"])
    ).all()

    long = taste_scores(
        shop.table("events"),
        shop.table("orders"),
        shop.table("order_lines"),
        shop.table("products"),
        shop.table("profiles"),
        END,
    ).to_pandas()
    totals = long.groupby(["profile_id", "dimension"])["score"].sum()
    assert totals.to_numpy() == pytest.approx(1.0)
    ranks = long.groupby(["profile_id", "dimension"])["rank"].agg(["min", "max", "size"])
    assert (ranks["min"] == 1).all() and (ranks["max"] == ranks["size"]).all()


def test_imported_interests_are_part_of_the_taste(shop: Shop) -> None:
    raw = shop.table("external_interests").to_pandas()
    raw = raw[raw["observed_at"].isna() | (raw["observed_at"] < END)]
    expected = raw.groupby("identifier")["keyword"].apply(set)  # members: identifier == profile id
    taste = shop.taste.set_index("profile_id")
    assert len(expected) > 100
    for profile, keywords in expected.items():
        got = taste.loc[profile, "interests"]
        if len(keywords) <= 5:
            assert {e["keyword"] for e in got} == keywords
        else:
            assert len(got) == 5 and {e["keyword"] for e in got} <= keywords
        weights = [e["weight"] for e in got]
        assert weights == sorted(weights, reverse=True)
    # an interest alone makes a taste row, even without any product signal
    only = taste[(taste["purchases"] + taste["cart_adds"] + taste["product_views"] == 0)]
    assert len(only) > 0 and (only["interests"].map(len) > 0).all()


# -- time travel and determinism ------------------------------------------------------------------


def _until(shop: Shop, as_of: datetime) -> dict[str, ibis.Table]:
    events, orders, interests = shop.table("events"), shop.table("orders"), shop.table("external_interests")
    return {
        "events": events.filter(events.event_time < as_of),
        "orders": orders.filter(orders.ordered_at < as_of),
        "interests": interests.filter(interests.observed_at < as_of),
    }


def test_nothing_after_as_of_is_used(shop: Shop) -> None:
    past = _until(shop, MIDWAY)
    t = shop.table
    args = (t("order_lines"), t("products"), t("profiles"))
    full = _taste(shop.store, MIDWAY).to_pandas()
    cut = customer_taste(past["events"], past["orders"], *args, past["interests"], MIDWAY).to_pandas()
    pd.testing.assert_frame_equal(full, cut)
    assert len(full) < len(shop.taste)

    full_h = best_time_and_device(t("events"), t("profiles"), MIDWAY).to_pandas()
    cut_h = best_time_and_device(past["events"], t("profiles"), MIDWAY).to_pandas()
    pd.testing.assert_frame_equal(full_h, cut_h)
    assert full_h["sessions"].sum() < shop.habits["sessions"].sum()


def test_same_inputs_give_identical_output(shop: Shop) -> None:
    pd.testing.assert_frame_equal(_taste(shop.store, END).to_pandas(), shop.taste)
    again = best_time_and_device(shop.table("events"), shop.table("profiles"), END).to_pandas()
    pd.testing.assert_frame_equal(again, shop.habits)
