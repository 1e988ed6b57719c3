"""The synthetic Korean shop: legal tables, determinism, and every planted truth really in the data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest

import shopmind.demo as demo
from shopmind.core import InvalidInputError
from shopmind.demo import (
    EVENTS_PER_CUSTOMER_DAY,
    INQUIRY_EVENT,
    INTEREST_SCHEMA,
    PRODUCT_SCHEMA,
    WEATHER_SCHEMA,
    SyntheticShop,
    generate_shop,
)
from shopmind.events import EVENT_SCHEMA, ORDER_LINE_SCHEMA, ORDER_SCHEMA, EventType, validate_event

CUSTOMERS = 2_000
DAYS = 60
SEED = 11
KST = "Asia/Seoul"


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate_shop(customers=CUSTOMERS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module")
def events(shop: SyntheticShop) -> pd.DataFrame:
    columns = [
        "message_id",
        "type",
        "anonymous_id",
        "user_id",
        "session_id",
        "event_time",
        "device_type",
        "category",
        "product_id",
        "page_url",
        "order_id",
        "revenue",
    ]
    frame = shop.events.select(columns).to_pandas()
    frame["local"] = frame["event_time"].dt.tz_convert(KST)
    frame["hour"] = frame["local"].dt.hour
    return frame


@pytest.fixture(scope="module")
def orders(shop: SyntheticShop) -> pd.DataFrame:
    """Order headers with revenue from their lines, local day and the weather of that day."""
    lines = shop.order_lines.to_pandas()
    revenue = (lines["quantity"] * lines["unit_price"]).groupby(lines["order_id"]).sum()
    frame = shop.orders.to_pandas()
    frame["revenue"] = frame["order_id"].map(revenue)
    frame["day"] = frame["ordered_at"].dt.tz_convert(KST).dt.date
    weather = shop.weather.to_pandas()
    return frame.merge(weather, on=["region", "day"], how="left")


@pytest.fixture(scope="module")
def lines(shop: SyntheticShop) -> pd.DataFrame:
    frame = shop.order_lines.to_pandas()
    products = shop.products.to_pandas().set_index("product_id")
    frame["category"] = frame["product_id"].map(products["category"])
    return frame


# -- determinism and arguments ----------------------------------------------------------------


def _tables(s: SyntheticShop) -> list[pa.Table]:
    return [s.events, s.orders, s.order_lines, s.products, s.weather, s.interests]


def test_same_seed_gives_identical_tables() -> None:
    a = generate_shop(customers=300, days=20, seed=5)
    b = generate_shop(customers=300, days=20, seed=5)
    for x, y in zip(_tables(a), _tables(b), strict=True):
        assert x.equals(y)
    assert a.truths == b.truths


def test_different_seed_gives_different_tables() -> None:
    a = generate_shop(customers=300, days=20, seed=5)
    b = generate_shop(customers=300, days=20, seed=6)
    assert not a.events.equals(b.events)
    assert not a.orders.equals(b.orders)
    assert a.truths.vip_user_ids != b.truths.vip_user_ids


def test_progress_is_reported_per_phase() -> None:
    calls: list[tuple[int, int]] = []
    generate_shop(customers=50, days=7, seed=1, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) >= 3
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize(
    ("customers", "days", "seed", "field"),
    [(0, 10, 1, "customers"), (10, 0, 1, "days"), (10, 10, -1, "seed")],
)
def test_bad_arguments_name_the_field(customers: int, days: int, seed: int, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        generate_shop(customers=customers, days=days, seed=seed)
    assert info.value.field == field


def test_tiny_shop_still_works() -> None:
    tiny = generate_shop(customers=1, days=1, seed=3)
    assert tiny.events.schema == EVENT_SCHEMA
    assert tiny.weather.num_rows == 10


def test_public_names_exist() -> None:
    for name in demo.__all__:
        assert hasattr(demo, name)


# -- tables are legal -------------------------------------------------------------------------


def test_schemas(shop: SyntheticShop) -> None:
    assert shop.events.schema == EVENT_SCHEMA
    assert shop.orders.schema == ORDER_SCHEMA
    assert shop.order_lines.schema == ORDER_LINE_SCHEMA
    assert shop.products.schema == PRODUCT_SCHEMA
    assert shop.weather.schema == WEATHER_SCHEMA
    assert shop.interests.schema == INTEREST_SCHEMA
    assert shop.summary() == {
        "events": shop.events.num_rows,
        "orders": shop.orders.num_rows,
        "order_lines": shop.order_lines.num_rows,
        "products": shop.products.num_rows,
        "weather": shop.weather.num_rows,
        "interests": shop.interests.num_rows,
    }


def test_keys_are_unique(shop: SyntheticShop) -> None:
    for table, key in [
        (shop.events, "message_id"),
        (shop.orders, "order_id"),
        (shop.order_lines, "line_key"),
        (shop.products, "product_id"),
    ]:
        column = table.column(key)
        assert column.null_count == 0
        assert len(column.unique()) == table.num_rows, key
    assert shop.events.column("message_id")[0].as_py() == f"demo-{SEED}-0"


def test_events_per_customer_day_is_as_documented(shop: SyntheticShop) -> None:
    rate = shop.events.num_rows / (CUSTOMERS * DAYS)
    assert 0.75 * EVENTS_PER_CUSTOMER_DAY <= rate <= 1.25 * EVENTS_PER_CUSTOMER_DAY


def test_event_values(shop: SyntheticShop) -> None:
    e = shop.events.to_pandas()
    # every type but alias; the custom ones are the 문의하기 clicks (a track call)
    assert set(e["type"]) == {t.value for t in EventType} - {"alias"}
    assert set(e.loc[e["type"] == "custom", "name"]) == {INQUIRY_EVENT}
    assert (e["event_time"] == e["client_time"]).all() and (e["event_time"] == e["received_at"]).all()
    assert e["session_id"].notna().all()
    assert (e["anonymous_id"].notna() | e["user_id"].notna()).all()
    assert e.loc[e["user_id"].notna(), "anonymous_id"].notna().all(), "members' events carry both ids"
    assert set(e["device_type"]) == {"mobile", "desktop", "tablet"}
    assert set(e["channel"]) == {"web", "app"}
    assert set(e["locale"]) == {"ko-KR"} and set(e["source"]) == {"demo"}
    assert {"서울", "부산", "인천", "광주", "대구", "대전", "제주"} <= set(e["region"])
    assert e["city"].notna().all() and e["os"].notna().all()
    assert e["referrer"].notna().any() and e["utm_source"].notna().any() and e["utm_campaign"].notna().any()

    product = e["type"].isin(["product_view", "cart_add", "cart_remove"])
    assert e.loc[product, ["product_id", "category", "price", "quantity"]].notna().all().all()
    assert (e.loc[product, "price"] > 0).all()
    assert e.loc[~product, "product_id"].isna().all()
    search = e["type"] == "search"
    assert e.loc[search, "query"].notna().all() and e.loc[~search, "query"].isna().all()
    assert {"겨울 코트", "라면"} <= set(e.loc[search, "query"])
    ordered = e["type"] == "order_completed"
    assert e.loc[ordered, ["order_id", "revenue", "currency"]].notna().all().all()
    assert set(e.loc[ordered, "currency"]) == {"KRW"}
    assert e.loc[~ordered, ["order_id", "revenue"]].isna().all().all()
    banner = e["type"].isin(["banner_impression", "banner_click"])
    assert e.loc[banner, "banner_id"].notna().all() and e.loc[~banner, "banner_id"].isna().all()
    message = e["type"].isin(["message_open", "message_click"])
    assert e.loc[message, "campaign_id"].notna().all() and e.loc[~message, "campaign_id"].isna().all()


def test_times_lie_in_the_period(shop: SyntheticShop, events: pd.DataFrame, orders: pd.DataFrame) -> None:
    first = pd.Timestamp(shop.start.isoformat(), tz=KST)
    end = first + pd.Timedelta(days=DAYS)
    assert events["local"].min() >= first and events["local"].max() < end
    assert orders["ordered_at"].min() >= first and orders["ordered_at"].max() < end
    assert shop.start == date(2026, 1, 1)
    assert events["event_time"].is_monotonic_increasing


def test_every_order_has_one_matching_order_completed_event(
    shop: SyntheticShop, events: pd.DataFrame, orders: pd.DataFrame
) -> None:
    completed = events[events["type"] == "order_completed"].set_index("order_id")
    assert completed.index.is_unique
    assert set(completed.index) == set(orders["order_id"])
    by_id = orders.set_index("order_id")
    assert np.allclose(
        completed.loc[by_id.index, "revenue"].to_numpy(), by_id["revenue"].to_numpy(), rtol=0, atol=1e-6
    )
    assert (completed.loc[by_id.index, "event_time"] == by_id["ordered_at"]).all()
    assert (by_id["revenue"] > 0).all()
    assert set(by_id["currency"]) == {"KRW"} and not by_id["is_return"].any()
    member_orders = by_id[by_id["customer_id"].notna()]
    assert (completed.loc[member_orders.index, "user_id"] == member_orders["customer_id"]).all()
    lines = shop.order_lines.to_pandas()
    assert set(lines["order_id"]) == set(orders["order_id"])
    assert (lines["line_key"] == lines["order_id"] + "#" + lines["line_no"].astype(str)).all()
    assert (lines["quantity"] >= 1).all() and lines["is_product"].all()


def test_guest_orders(shop: SyntheticShop, orders: pd.DataFrame) -> None:
    guests = orders[orders["customer_id"].isna()]
    assert 0 < len(guests) < 0.2 * len(orders)
    assert guests[["anonymous_id", "email_hash", "phone_hash"]].notna().all().all()
    assert guests["email_hash"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert set(guests["anonymous_id"]) <= shop.truths.guest_buyer_anonymous_ids
    assert orders.loc[orders["customer_id"].notna(), "email_hash"].isna().all()


def test_products_and_weather(shop: SyntheticShop) -> None:
    products = shop.products.to_pandas()
    assert (products["price"] > 0).all() and products["is_product"].all()
    assert set(products["currency"]) == {"KRW"}
    assert {"라면", "김치", "아우터", "디지털"} <= set(products["category"])
    assert products["name"].str.contains("신라면").any() and products["name"].str.contains("울 롱코트").any()
    regional = products[products["region"].notna()]
    assert dict(zip(regional["product_id"], regional["region"], strict=True)) == dict(
        shop.truths.regional_products
    )
    assert 0 < len(regional) < 0.1 * len(products)

    weather = shop.weather.to_pandas()
    assert len(weather) == 10 * DAYS
    assert weather.groupby("region")["day"].nunique().eq(DAYS).all()
    means = weather.groupby("region")["temp_c"].mean()
    assert means["제주"] > means["서울"] + 3
    assert (weather["precip_mm"] >= 0).all()


def test_seasons() -> None:
    year = generate_shop(customers=20, days=365, seed=2).weather.to_pandas()
    year["month"] = pd.to_datetime(year["day"]).dt.month
    seoul = year[year["region"] == "서울"].groupby("month")["temp_c"].mean()
    assert seoul[8] > seoul[1] + 20
    assert seoul[1] < 2


def test_interests(shop: SyntheticShop) -> None:
    interests = shop.interests.to_pandas()
    truths = shop.truths
    assert interests["identifier"].str.startswith("user:").all()
    assert (interests["topic"] == interests["keyword"].map(truths.interest_keywords)).all()
    favourite = interests["identifier"].str.removeprefix("user:").map(truths.favourite_categories)
    hit = (interests["topic"] == favourite).groupby(interests["identifier"]).any()
    assert hit.sum() >= 0.7 * CUSTOMERS


# -- planted truths ---------------------------------------------------------------------------


def test_pareto_and_vips(shop: SyntheticShop, orders: pd.DataFrame) -> None:
    per_buyer = orders.groupby("customer_id")["revenue"].sum().sort_values(ascending=False)
    top = per_buyer.iloc[: round(0.2 * len(per_buyer))]
    assert top.sum() / per_buyer.sum() >= 0.55
    vips = shop.truths.vip_user_ids
    assert 0.1 * len(per_buyer) <= len(vips) <= 0.3 * len(per_buyer), "VIPs are about a fifth of the buyers"
    assert len(set(top.index) & vips) >= 0.6 * len(top), "the top fifth is mostly planted VIPs"
    assert len(set(top.index) & vips) >= 0.6 * len(vips), "most planted VIPs are in the top fifth"
    counts = orders.groupby("customer_id").size()
    baskets = orders.groupby("customer_id")["revenue"].mean()
    is_vip = counts.index.isin(list(vips))
    assert counts[is_vip].mean() > 3 * counts[~is_vip].mean()
    assert baskets[is_vip].median() > 1.3 * baskets[~is_vip].median()


def test_complementary_pairs(shop: SyntheticShop, lines: pd.DataFrame) -> None:
    baskets = lines.groupby("order_id")["category"].agg(set)
    ramen = baskets.map(lambda c: "라면" in c)
    kimchi = baskets.map(lambda c: "김치" in c)
    assert ramen.sum() >= 50
    assert kimchi[ramen].mean() >= 0.7
    assert kimchi[ramen].mean() > 3 * kimchi.mean()
    assert kimchi[~ramen].mean() < 0.1

    products = lines.groupby("order_id")["product_id"].agg(set)
    pairs = shop.truths.complementary_pairs
    assert len({p.consequent for p in pairs}) >= 4
    hits = trials = 0
    for consequent in {p.consequent for p in pairs}:
        antecedents = {p.antecedent for p in pairs if p.consequent == consequent}
        with_a = products.map(lambda s, a=antecedents: bool(s & a))
        has_b = products.map(lambda s, b=consequent: b in s)
        hits, trials = hits + int(has_b[with_a].sum()), trials + int(with_a.sum())
        if with_a.sum() >= 20:
            assert has_b[with_a].mean() >= 0.5
            assert has_b[with_a].mean() > 3 * has_b[~with_a].mean()
    assert hits / trials >= 0.65


def test_churned_vips_stop(shop: SyntheticShop, events: pd.DataFrame, orders: pd.DataFrame) -> None:
    truths = shop.truths
    churned = truths.churned_vip_user_ids
    assert churned and churned <= truths.vip_user_ids
    last_third = pd.Timestamp((shop.start + timedelta(days=DAYS * 2 / 3)).isoformat(), tz=KST)
    theirs = events[events["user_id"].isin(list(churned))]
    assert (theirs["local"] < last_third).all()
    devices = {d for u in churned for d in truths.member_devices[u]}
    assert (events.loc[events["anonymous_id"].isin(devices), "local"] < last_third).all()
    assert set(theirs["user_id"]) == churned
    last_seen = theirs.groupby("user_id")["local"].max()
    for user, day in truths.churned_from.items():
        assert last_seen[user] < pd.Timestamp(day.isoformat(), tz=KST)
    # heavy buyers while they were active: compare with the other buying members over the same days
    early = pd.Timestamp(min(truths.churned_from.values()).isoformat(), tz=KST)
    members = orders[orders["customer_id"].notna()]
    counts = members[members["ordered_at"] < early].groupby("customer_id").size()
    others = counts.reindex(list(set(members["customer_id"]) - truths.vip_user_ids), fill_value=0)
    assert counts.reindex(list(churned), fill_value=0).mean() > 3 * others.mean()


def test_device_hour_habit(shop: SyntheticShop, events: pd.DataFrame) -> None:
    (habit,) = shop.truths.device_hour_habits
    assert len(habit.user_ids) >= 50
    theirs = events[events["user_id"].isin(list(habit.user_ids))]
    morning = theirs[theirs["hour"].isin(habit.browse_hours_kst)]
    assert len(morning) >= 100
    assert (morning["device_type"] == habit.browse_device).mean() >= 0.9
    everyone_morning = events[
        events["hour"].isin(habit.browse_hours_kst) & ~events["user_id"].isin(list(habit.user_ids))
    ]
    assert (everyone_morning["device_type"] == "mobile").mean() < 0.8
    bought = theirs[theirs["type"] == "order_completed"]
    night = bought[bought["hour"].isin([*habit.buy_hours_kst, max(habit.buy_hours_kst) + 1])]
    assert len(night) >= 0.8 * len(bought) and len(bought) >= 30
    assert (night["device_type"] == habit.buy_device).mean() >= 0.9


def test_coats_sell_in_the_cold(shop: SyntheticShop, orders: pd.DataFrame, lines: pd.DataFrame) -> None:
    (coat, rain) = shop.truths.weather_categories
    assert (coat.category, coat.variable, coat.direction) == ("아우터", "temp_c", -1)
    coat_orders = orders["order_id"].isin(set(lines.loc[lines["category"] == coat.category, "order_id"]))
    assert coat_orders.sum() >= 50
    assert orders.loc[coat_orders, "temp_c"].mean() < orders["temp_c"].mean() - 1.5
    rain_orders = orders["order_id"].isin(set(lines.loc[lines["category"] == rain.category, "order_id"]))
    assert orders.loc[rain_orders, "precip_mm"].mean() > 2 * orders["precip_mm"].mean()


def test_job_seekers_scan_every_category(shop: SyntheticShop, events: pd.DataFrame) -> None:
    seekers = shop.truths.job_seeker_anonymous_ids
    assert seekers and seekers <= shop.truths.anonymous_visitor_ids
    theirs = events[events["anonymous_id"].isin(list(seekers))]
    assert theirs["user_id"].isna().all() and not (theirs["type"] == "order_completed").any()
    per_session = theirs.groupby("session_id").agg(
        categories=("category", "nunique"),
        gap=("event_time", lambda t: t.sort_values().diff().dt.total_seconds().median()),
        careers=("page_url", lambda u: u.fillna("").str.endswith("/careers").any()),
    )
    assert (per_session["categories"] >= 8).all()
    assert (per_session["gap"] <= 10).all()
    assert per_session["careers"].mean() >= 0.4
    others = events[~events["anonymous_id"].isin(list(seekers))].groupby("session_id")["category"].nunique()
    assert (others >= 8).mean() < 0.01


def test_identity(shop: SyntheticShop, events: pd.DataFrame) -> None:
    truths = shop.truths
    owner = {d: u for u, devices in truths.member_devices.items() for d in devices}
    signed = events[events["user_id"].notna()]
    assert (signed["anonymous_id"].map(owner) == signed["user_id"]).all()
    anonymous = events[events["anonymous_id"].isin(list(truths.anonymous_visitor_ids))]
    assert len(anonymous) > 0 and anonymous["user_id"].isna().all()
    identified = events[events["type"] == "identify"]
    assert identified["user_id"].notna().all() and identified["anonymous_id"].is_unique
    assert (events["user_id"].isna() & events["anonymous_id"].map(owner).notna()).any(), (
        "members also browse logged out"
    )


def test_favourite_categories_show_in_purchases(
    shop: SyntheticShop, orders: pd.DataFrame, lines: pd.DataFrame
) -> None:
    customer = lines["order_id"].map(orders.set_index("order_id")["customer_id"])
    bought = lines.assign(customer=customer).dropna(subset=["customer"])
    favourite = bought["customer"].map(shop.truths.favourite_categories)
    assert (bought["category"] == favourite).mean() >= 0.3


# -- the events are legal events --------------------------------------------------------------


def _as_json(row: Mapping[str, Any], order_lines: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The tracking-API shape of one events row (see ``shopmind.events._validation``)."""

    def present(mapping: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in mapping.items() if v is not None and v != {}}

    kind = row["type"]
    properties: dict[str, Any] = {}
    if kind in ("product_view", "cart_add", "cart_remove"):
        properties = present({k: row[k] for k in ("product_id", "category", "price", "quantity")})
    elif kind == "search":
        properties = {"query": row["query"]}
    elif kind == "order_completed":
        properties = {
            "order_id": row["order_id"],
            "products": order_lines[row["order_id"]],
            "revenue": row["revenue"],
            "currency": row["currency"],
        }
    elif kind in ("banner_impression", "banner_click"):
        properties = {"banner_id": row["banner_id"]}
    elif kind in ("message_open", "message_click"):
        properties = {"campaign_id": row["campaign_id"]}
    elif kind == "custom":
        properties = orjson.loads(row["properties"])
    context = present(
        {
            "device": present({"type": row["device_type"]}),
            "os": present({"name": row["os"]}),
            "channel": row["channel"],
            "locale": row["locale"],
            "location": present({"region": row["region"], "city": row["city"]}),
            "page": present({"url": row["page_url"], "referrer": row["referrer"]}),
            "campaign": present(
                {
                    "source": row["utm_source"],
                    "medium": row["utm_medium"],
                    "name": row["utm_campaign"],
                    "term": row["utm_term"],
                    "content": row["utm_content"],
                }
            ),
        }
    )
    return present(
        {
            "messageId": row["message_id"],
            "type": kind,
            "event": row["name"] if kind == "custom" else None,
            "anonymousId": row["anonymous_id"],
            "userId": row["user_id"],
            "sessionId": row["session_id"],
            "timestamp": row["event_time"].isoformat(),
            "context": context,
            "properties": properties,
        }
    )


def test_events_pass_validation_unchanged(shop: SyntheticShop) -> None:
    rng = np.random.default_rng(0)
    kinds = shop.events.column("type").to_numpy(zero_copy_only=False)
    picked = set(rng.choice(shop.events.num_rows, size=200, replace=False).tolist())
    for kind in set(kinds):  # and a few of every type, rare ones included
        picked.update(rng.choice(np.flatnonzero(kinds == kind), size=3).tolist())
    sample = shop.events.take(pa.array(sorted(picked))).to_pylist()
    wanted = {r["order_id"] for r in sample if r["order_id"]}
    order_lines: dict[str, list[dict[str, Any]]] = {}
    for line in shop.order_lines.to_pylist():
        if line["order_id"] in wanted:
            order_lines.setdefault(line["order_id"], []).append(
                {"product_id": line["product_id"], "quantity": line["quantity"], "price": line["unit_price"]}
            )
    for row in sample:
        event = validate_event(_as_json(row, order_lines), received_at=row["received_at"], source="demo")
        stored = event.row()
        if row["email_hash"] is not None:  # hashed contact data is sent as plain traits; skip it here
            stored["email_hash"], stored["phone_hash"] = row["email_hash"], row["phone_hash"]
        assert stored == row, row["message_id"]
        if row["type"] == "order_completed":
            assert [(x.product_id, x.quantity, x.unit_price) for x in event.lines] == [
                (x["product_id"], x["quantity"], x["price"]) for x in order_lines[row["order_id"]]
            ]


def test_event_time_is_utc(shop: SyntheticShop) -> None:
    first = shop.events.column("event_time")[0].as_py()
    assert first.utcoffset() == timedelta(0)
    assert first >= datetime(2025, 12, 31, 15, 0, tzinfo=UTC)
