"""Behavioural features per profile at one ``as_of`` (members and anonymous visitors), and the
labels of what they did next: the inputs of the purchase-probability, churn and look-alike models.

Everything is an Ibis expression over the stored events and purchases, filtered to what happened
before ``as_of`` (features) or in ``[as_of, as_of + horizon)`` (labels), so training on past
windows and scoring today are the same code with another ``as_of``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.features._rfm import event_profiles
from shopmind.features._sample import sampled_customers
from shopmind.features._time import local_hour, utc_seconds

#: Days without a visit or purchase given to profiles that never had one: far beyond any window,
#: so trees split them off, and finite, so every model can read them.
NEVER = 9_999.0
RECENT_DAYS = 7
MONTH_DAYS = 30
QUARTER_DAYS = 90

#: The feature columns, in a fixed order (what the models see), with their meaning.
FEATURES: dict[str, str] = {
    "is_member": "1 for a signed-in member, 0 for an anonymous visitor or a guest buyer",
    "days_since_last_visit": "days since the last event (NEVER without one)",
    "days_since_first_seen": "days since the first event or purchase (tenure)",
    "visit_days_7": "distinct days with an event in the last 7 days",
    "visit_days_30": "distinct days with an event in the last 30 days",
    "sessions_30": "sessions in the last 30 days",
    "events_30": "events in the last 30 days",
    "product_views_7": "product views in the last 7 days",
    "product_views_30": "product views in the last 30 days",
    "cart_adds_7": "cart additions in the last 7 days",
    "cart_adds_30": "cart additions in the last 30 days",
    "checkouts_30": "checkouts started in the last 30 days",
    "searches_30": "searches in the last 30 days",
    "categories_viewed_30": "distinct categories viewed in the last 30 days",
    "viewed_price_mean_30": "mean price of the products viewed or carted in the last 30 days",
    "viewed_price_max_30": "highest such price",
    "mobile_share": "share of events on a mobile device",
    "app_share": "share of events in the app",
    "evening_share": "share of events between 18:00 and 24:00 shop-local time",
    "morning_share": "share of events between 06:00 and 10:00 shop-local time",
    "days_since_last_purchase": "days since the last purchase (NEVER without one)",
    "orders_30": "purchases in the last 30 days",
    "orders_90": "purchases in the last 90 days",
    "orders_all": "purchases ever",
    "revenue_all": "revenue ever",
    "average_order_value": "revenue per purchase (0 without one)",
}


def _days_before(as_of: datetime, ts: ir.TimestampValue) -> ir.FloatingValue:
    """Whole and fractional days from ``ts`` to ``as_of``, to the second: ``epoch_seconds`` keeps
    the microseconds on DuckDB and drops them on Spark, so it is not used."""
    return (ibis.literal(as_of.timestamp()) - utc_seconds(ts).cast("float64")) / 86_400.0


def _count(cond: ir.BooleanValue) -> ir.FloatingValue:
    return cond.cast("int64").sum().cast("float64")


def _purchases(transactions: ir.Table, as_of: datetime, start: datetime) -> ir.Table:
    """Per profile with a purchase in [``start``, ``as_of``): the purchase columns of the
    behaviour features (and ``_first_purchase``, the age of the first)."""
    bought = transactions.filter((transactions.ordered_at < as_of) & (transactions.ordered_at >= start))
    bought = bought.mutate(_age=_days_before(as_of, bought.ordered_at))
    return bought.group_by("profile_id").aggregate(
        days_since_last_purchase=bought._age.min(),
        _first_purchase=bought._age.max(),
        orders_30=_count(bought._age < MONTH_DAYS),
        orders_90=_count(bought._age < QUARTER_DAYS),
        orders_all=bought.count().cast("float64"),
        # rounded to a millionth: a parallel sum's last bits vary run to run, and the trees split
        # on them (models fitted twice on the same store must agree)
        revenue_all=bought.value.sum().cast("float64").round(6),
    )


def purchase_context(transactions: ir.Table, as_of: datetime, *, lookback_days: int = 365) -> ir.Table:
    """One row of shop-wide sums over every profile's behaviour features at ``as_of``, from the
    purchases alone: ``orders_90`` and ``orders_30`` (the sums of those columns) and
    ``recent_7`` (the profiles whose last purchase is less than 7 days old). Equal to summing
    :func:`behaviour_features` (a profile without purchases adds nothing), without its events."""
    buys = _purchases(transactions, as_of, as_of - timedelta(days=lookback_days))
    return buys.aggregate(
        orders_90=buys.orders_90.sum(),
        orders_30=buys.orders_30.sum(),
        recent_7=ibis.ifelse(buys.days_since_last_purchase < 7, 1, 0).sum(),
    )


def behaviour_features(
    events: ir.Table,
    transactions: ir.Table,
    profiles: ir.Table,
    as_of: datetime,
    *,
    zone: str = DEFAULT_SHOP_TZ,
    lookback_days: int = 365,
    share: float = 1.0,
    seed: int = 0,
) -> ir.Table:
    """One row per profile seen in the ``lookback_days`` before ``as_of`` (an event or a
    purchase): ``profile_id`` and the columns of :data:`FEATURES` (floats, no nulls).

    ``transactions`` is :func:`~shopmind.features.purchase_transactions` (profile_id, order_id,
    ordered_at, value). Shops without on-site events (order history only) get zeros in the event
    columns and NEVER as days since the last visit.

    ``share`` < 1: only the profiles :func:`~shopmind.features.sampled_customers` draws with
    ``seed``, the same rows as drawing from the result, but drawn from the events and purchases
    before they are aggregated (a tenth of the customers costs about a tenth of the aggregation).
    """
    start = as_of - timedelta(days=lookback_days)
    seen = event_profiles(events.filter((events.event_time < as_of) & (events.event_time >= start)), profiles)
    seen = sampled_customers(seen, share, seed)
    age = _days_before(as_of, seen.event_time)
    hour = local_hour(seen.event_time, zone, as_of)
    seen = seen.mutate(_age=age, _hour=hour, _day=(age.floor()).cast("int64"))
    recent, month = seen._age < RECENT_DAYS, seen._age < MONTH_DAYS
    is_view = seen.type == "product_view"
    is_cart = seen.type == "cart_add"
    priced = (is_view | is_cart) & month & seen.price.notnull()

    def fraction(cond: ir.BooleanValue) -> ir.FloatingValue:
        return cond.cast("float64").mean()

    visits = seen.group_by("profile_id").aggregate(
        is_member=seen.user_id.notnull().any().cast("float64"),
        days_since_last_visit=seen._age.min(),
        _first_visit=seen._age.max(),
        visit_days_7=seen._day.nunique(where=recent).cast("float64"),
        visit_days_30=seen._day.nunique(where=month).cast("float64"),
        sessions_30=seen.session_id.nunique(where=month).cast("float64"),
        events_30=_count(month),
        product_views_7=_count(is_view & recent),
        product_views_30=_count(is_view & month),
        cart_adds_7=_count(is_cart & recent),
        cart_adds_30=_count(is_cart & month),
        checkouts_30=_count((seen.type == "checkout_start") & month),
        searches_30=_count((seen.type == "search") & month),
        categories_viewed_30=seen.category.nunique(where=is_view & month).cast("float64"),
        viewed_price_mean_30=seen.price.mean(where=priced),
        viewed_price_max_30=seen.price.max(where=priced),
        mobile_share=fraction(seen.device_type == "mobile"),
        app_share=fraction(seen.channel == "app"),
        evening_share=fraction(seen._hour >= 18),
        morning_share=fraction((seen._hour >= 6) & (seen._hour < 10)),
    )

    buys = _purchases(sampled_customers(transactions, share, seed), as_of, start)

    joined = visits.outer_join(buys, visits.profile_id == buys.profile_id)
    never = ibis.literal(NEVER)
    zero = ibis.literal(0.0)
    event_columns = [c for c in FEATURES if c in visits.columns and c not in {"days_since_last_visit"}]
    out = joined.select(
        profile_id=ibis.coalesce(joined.profile_id, joined.profile_id_right),
        **{c: ibis.coalesce(joined[c], zero) for c in event_columns},
        days_since_last_visit=ibis.coalesce(joined.days_since_last_visit, never),
        days_since_first_seen=ibis.greatest(
            ibis.coalesce(joined._first_visit, zero), ibis.coalesce(joined._first_purchase, zero)
        ),
        days_since_last_purchase=ibis.coalesce(joined.days_since_last_purchase, never),
        orders_30=ibis.coalesce(joined.orders_30, zero),
        orders_90=ibis.coalesce(joined.orders_90, zero),
        orders_all=ibis.coalesce(joined.orders_all, zero),
        revenue_all=ibis.coalesce(joined.revenue_all, zero),
    )
    out = out.mutate(
        average_order_value=ibis.ifelse(out.orders_all > 0, out.revenue_all / out.orders_all, zero),
    )
    # guests and members known only from orders are members when their id says so
    out = out.mutate(
        is_member=ibis.greatest(out.is_member, out.profile_id.startswith("user:").cast("float64"))
    )
    return out.select("profile_id", *FEATURES)


def purchase_labels(transactions: ir.Table, as_of: datetime, horizon_days: float) -> ir.Table:
    """The profiles that bought in ``[as_of, as_of + horizon_days)``: profile_id, orders, revenue."""
    end = as_of + timedelta(days=horizon_days)
    window = transactions.filter((transactions.ordered_at >= as_of) & (transactions.ordered_at < end))
    return window.group_by("profile_id").aggregate(
        orders=window.count().cast("float64"), revenue=window.value.sum().cast("float64").round(6)
    )
