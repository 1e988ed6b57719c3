"""Purchase and visit summaries per customer, as Ibis expressions (they run in the engine).

The purchase summary uses the vocabulary of the buy-till-you-die models (Fader, Hardie & Lee 2005):
several purchases on one shop-local day count as one transaction; ``frequency`` is the number of
repeat transactions (days with a purchase after the first), ``recency`` the time from the first to
the last transaction, ``T`` the time from the first transaction to ``as_of``, and
``monetary_value`` the mean value of the repeat transactions (0 without repeats), all times in
``unit_days`` (1 = days, 7 = weeks). Only what happened before ``as_of`` is seen, so a backtest is
just an earlier ``as_of``.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features._time import as_of_day, local_day


def _money(amount: ir.NumericValue) -> ir.NumericValue:
    """Money sums to a millionth of the currency unit: the engine sums doubles in parallel in no
    fixed order, and the last-bit differences that leaves would make the same data and ``as_of``
    give different scores (a flat likelihood amplifies them)."""
    return amount.round(6)


def customer_key(orders: ir.Table, profiles: ir.Table) -> ir.Table:
    """Orders with the buyer's profile id: members by member id, guests (비회원) by their hashed
    e-mail or phone; orders of guests without either have no profile and are left out."""
    ident = ibis.coalesce(
        ibis.literal("user:") + orders.customer_id,
        ibis.literal("email:") + orders.email_hash,
        ibis.literal("phone:") + orders.phone_hash,
    )
    keyed = orders.mutate(_identifier=ident).filter(ibis._._identifier.notnull())
    joined = keyed.left_join(profiles, keyed._identifier == profiles.identifier)
    return joined.mutate(profile_id=ibis.coalesce(joined.profile_id, joined._identifier)).drop(
        "_identifier", "identifier", "kind"
    )


def placed_orders(orders: ir.Table) -> ir.Table:
    """Orders that count as purchases: not returns or cancellations, and not a client's claim
    that no server-side source confirmed (``verified``; tables without it are all verified)."""
    kept = ~orders.is_return
    if "verified" in orders.columns:
        kept = kept & orders.verified
    return orders.filter(kept)


def purchase_transactions(orders: ir.Table, order_lines: ir.Table, profiles: ir.Table) -> ir.Table:
    """One row per purchase: profile_id, order_id, ordered_at, value.

    Returns and cancellations, non-product lines (postage, fees), orders worth nothing and orders
    not verified (a browser's claim no server-side source confirmed) are left out.
    """
    lines = order_lines.filter(order_lines.is_product & ~order_lines.is_return)
    value = lines.group_by("order_id").aggregate(value=_money((lines.quantity * lines.unit_price).sum()))
    bought = customer_key(placed_orders(orders), profiles)
    joined = bought.join(value, "order_id")
    return joined.select("profile_id", "order_id", "ordered_at", "value").filter(ibis._.value > 0)


def rfm_summary(
    transactions: ir.Table,
    as_of: datetime,
    *,
    unit_days: float = 1.0,
    zone: str = DEFAULT_SHOP_TZ,
) -> ir.Table:
    """Per buyer: frequency, recency, T, monetary_value, and plain totals (orders, revenue,
    first and last purchase, days since the last purchase)."""
    seen = transactions.filter(transactions.ordered_at < as_of)
    daily = seen.group_by(profile_id=seen.profile_id, day=local_day(seen.ordered_at, zone, as_of)).aggregate(
        value=_money(seen.value.sum()), orders=seen.order_id.nunique(), last_at=seen.ordered_at.max()
    )
    per = daily.group_by("profile_id").aggregate(
        first_day=daily.day.min(),
        last_day=daily.day.max(),
        days=daily.day.count(),
        orders=daily.orders.sum(),
        revenue=_money(daily.value.sum()),
        last_purchase_at=daily.last_at.max(),
    )
    first_value = daily.join(per.select("profile_id", "first_day"), "profile_id").filter(
        lambda t: t.day == t.first_day
    )
    first_value = first_value.group_by("profile_id").aggregate(first_value=_money(first_value.value.sum()))
    per = per.join(first_value, "profile_id")
    today = ibis.literal(as_of_day(as_of, zone))
    frequency = (per.days - 1).cast("int64")
    return per.select(
        "profile_id",
        frequency=frequency,
        recency=per.last_day.delta(per.first_day, unit="day").cast("float64") / unit_days,
        T=today.delta(per.first_day, unit="day").cast("float64") / unit_days,
        monetary_value=ibis.ifelse(frequency > 0, _money((per.revenue - per.first_value) / frequency), 0.0),
        orders=per.orders.cast("int64"),
        revenue=per.revenue,
        first_purchase_day=per.first_day,
        last_purchase_day=per.last_day,
        days_since_last_purchase=today.delta(per.last_day, unit="day"),
    )


def event_profiles(events: ir.Table, profiles: ir.Table) -> ir.Table:
    """Events with the profile id of whoever made them (member id first, else the device's)."""
    ident = ibis.coalesce(ibis.literal("user:") + events.user_id, ibis.literal("anon:") + events.anonymous_id)
    keyed = events.mutate(_identifier=ident)
    joined = keyed.left_join(
        profiles.select("identifier", "profile_id"), keyed._identifier == profiles.identifier
    )
    return joined.mutate(profile_id=ibis.coalesce(joined.profile_id, joined._identifier)).drop(
        "_identifier", "identifier"
    )


def visit_summary(
    events: ir.Table, profiles: ir.Table, as_of: datetime, *, zone: str = DEFAULT_SHOP_TZ
) -> ir.Table:
    """Per profile, members and anonymous visitors alike: visit days, sessions, events, product
    views, first and last visit and days since the last visit (the visit-based R and F)."""
    seen = event_profiles(events.filter(events.event_time < as_of), profiles)
    seen = seen.mutate(day=local_day(seen.event_time, zone, as_of))
    today = ibis.literal(as_of_day(as_of, zone))
    per = seen.group_by("profile_id").aggregate(
        visit_days=seen.day.nunique(),
        sessions=seen.session_id.nunique(),
        events=seen.count(),
        product_views=(seen.type == "product_view").sum(),
        first_visit_day=seen.day.min(),
        last_visit_day=seen.day.max(),
        is_member=seen.user_id.notnull().any(),
    )
    return per.mutate(
        days_since_last_visit=today.delta(per.last_visit_day, unit="day"),
        days_since_first_visit=today.delta(per.first_visit_day, unit="day"),
    )
