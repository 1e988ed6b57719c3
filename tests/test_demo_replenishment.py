"""The demo shop's planted replenishment (``demo._restock``): members who adopted a consumable buy
it again when it is due on their own cycle, and not before; adding it moves nothing else."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import shopmind.demo._restock as restock
from shopmind.demo import SyntheticShop, generate_shop
from shopmind.demo._restock import COMPLIANCE, RESTOCK_DAYS

CUSTOMERS, DAYS, SEED = 2_000, 120, 8


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate_shop(customers=CUSTOMERS, days=DAYS, seed=SEED)


@pytest.fixture(scope="module")
def purchases(shop: SyntheticShop) -> pd.DataFrame:
    """Members' order lines with the order's local day."""
    orders = shop.orders.select(["order_id", "ordered_at", "customer_id"]).to_pandas()
    lines = shop.order_lines.select(["order_id", "product_id", "description"]).to_pandas()
    frame = lines.merge(orders, on="order_id").dropna(subset=["customer_id"])
    local = frame["ordered_at"].dt.tz_convert("Asia/Seoul").dt.tz_localize(None)
    frame["day"] = (local - pd.Timestamp(shop.start)).dt.days
    return frame


def _walk(purchases: pd.DataFrame, cycles: dict) -> pd.DataFrame:
    """Each later order of an adopter, with the days since they last bought the adopted product
    (over their cycle) and whether the order holds it."""
    orders = purchases.drop_duplicates("order_id")[["order_id", "customer_id", "day"]]
    orders = orders.sort_values(["customer_id", "day", "order_id"])
    holding = set(zip(purchases.order_id, purchases.product_id, strict=True))
    by_member = {m: g for m, g in orders.groupby("customer_id")}
    rows = []
    for member, products in cycles.items():
        mine = by_member.get(member)
        if mine is None:
            continue
        for product, cycle in products.items():
            last = None
            for order_id, day in zip(mine.order_id, mine.day, strict=True):
                held = (order_id, product) in holding
                if last is not None and day > last:
                    rows.append({"ratio": (day - last) / cycle, "held": held, "product": product})
                if held:
                    last = day
    return pd.DataFrame(rows)


def test_adopters_restock_when_due_and_not_before(shop: SyntheticShop, purchases: pd.DataFrame) -> None:
    cycles = shop.truths.restock_cycles
    assert len(cycles) >= 300  # hundreds of members with a cycle
    walk = _walk(purchases, cycles)
    due = walk[walk.ratio >= 1.5]  # well past the cycle (beyond the jitter): very likely restocked
    early = walk[walk.ratio < 0.5]  # soon after a purchase: only the shop's ordinary draws
    assert len(due) >= 200 and len(early) >= 200
    assert due.held.mean() >= 0.9 * COMPLIANCE
    assert early.held.mean() <= 0.2
    assert due.held.mean() >= 4 * early.held.mean()


def test_cycles_are_personal_around_the_item_typical_cycle(shop: SyntheticShop) -> None:
    names = dict(zip(shop.products["product_id"].to_pylist(), shop.products["name"].to_pylist(), strict=True))
    ratios = []
    for products in shop.truths.restock_cycles.values():
        for product, days in products.items():
            typical = next(t for item, t in RESTOCK_DAYS.items() if item in names[product])
            ratios.append(days / typical)
    ratios_arr = np.log(np.array(ratios))
    assert abs(np.median(ratios_arr)) < 0.05  # centred on the item's typical cycle
    assert 0.15 < ratios_arr.std() < 0.35  # and personal
    adopted = {p for products in shop.truths.restock_cycles.values() for p in products}
    for consumable in ("신라면", "포기김치", "삼다수", "액체 세제", "기저귀"):
        assert any(consumable in names[p] for p in adopted), consumable


def test_repurchases_make_up_a_real_share_of_baskets(shop: SyntheticShop, purchases: pd.DataFrame) -> None:
    restocked = shop.events.filter(
        np.char.find(np.asarray(shop.events["message_id"].to_pylist(), dtype=str), "-restock-") >= 0
    )
    types = pd.Series(restocked["type"].to_pylist()).value_counts()
    # every restocked line is viewed and put in the cart in its order's session
    lines = int(types.get("product_view", 0))
    assert (
        lines > 500 and types.get("cart_add", 0) == lines and set(types.index) == {"product_view", "cart_add"}
    )
    # each customer's last basket: a good share of its items was bought by them before
    purchases = purchases.sort_values("ordered_at")
    last = purchases.groupby("customer_id")["ordered_at"].transform("max")
    held = purchases[purchases.ordered_at == last]
    before = purchases[purchases.ordered_at < last]
    bought = set(zip(before.customer_id, before.product_id, strict=True))
    repeat_customers = set(before.customer_id)
    held = held[held.customer_id.isin(repeat_customers)]
    share = np.mean([(c, p) in bought for c, p in zip(held.customer_id, held.product_id, strict=True)])
    assert share >= 0.25


def test_restocking_moves_nothing_else(monkeypatch: pytest.MonkeyPatch, shop: SyntheticShop) -> None:
    monkeypatch.setattr(restock, "ADOPT_SHARE", 0.0)
    plain = generate_shop(customers=CUSTOMERS, days=DAYS, seed=SEED)
    assert plain.truths.restock_cycles == {}
    assert plain.orders.equals(shop.orders)
    lines = shop.order_lines.to_pandas()
    plain_lines = plain.order_lines.to_pandas()
    kept = lines.merge(plain_lines[["line_key"]], on="line_key")
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), plain_lines.reset_index(drop=True))
    extra = lines[~lines.line_key.isin(plain_lines.line_key)]
    assert len(extra) > 500
    assert (extra.quantity == 1).all()
    events = shop.events.to_pandas()
    ours = events[~events.message_id.str.contains("-restock-")].reset_index(drop=True)
    theirs = plain.events.to_pandas()
    # the same events, in the same order, but the orders' revenue grows by the restocked lines
    pd.testing.assert_frame_equal(ours.drop(columns="revenue"), theirs.drop(columns="revenue"))
    grown = ours.revenue.fillna(0) - theirs.revenue.fillna(0)
    assert (grown >= 0).all() and grown.sum() == pytest.approx((extra.quantity * extra.unit_price).sum())
    assert shop.truths.end == plain.truths.end == shop.start + timedelta(days=DAYS)
