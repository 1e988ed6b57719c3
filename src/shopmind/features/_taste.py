"""What each profile likes - categories, brands, price band and imported interests - as Ibis
expressions (they run in the engine).

Every product signal before ``as_of`` is a weighted vote for the product's category and brand:
a bought order line counts ``purchase_weight`` (5), a cart add ``cart_weight`` (3) and a product
view ``view_weight`` (1), each decayed by its age with a half-life of ``half_life_days`` (30 days;
``None`` for no decay), so last week's purchases speak louder than last quarter's views. A
profile's ``score`` for a category or brand is its share of the profile's votes (0..1, summing to
1 over the profile's categories, and over its brands). Returns and non-product lines (postage,
fees) are left out; category and brand come from the catalogue, the event's own category when the
product is not in it.

Prices: *bought* prices are the unit prices of the bought order lines, *viewed* prices those shown
on the product views and cart adds (the catalogue price when an event has none). Imported interest
keywords (``external_interests``) are part of the taste as they are, ranked by weight; those
observed at or after ``as_of`` are left out, those with no time kept.
"""

from __future__ import annotations

import math
from datetime import datetime

import ibis
import ibis.expr.types as ir

from shopmind.features._rfm import customer_key, event_profiles, placed_orders
from shopmind.features._sample import customers_in_part
from shopmind.features._time import utc_seconds

DIMENSIONS = ("category", "brand")
SECONDS_PER_DAY = 86_400


def _signals(
    events: ir.Table,
    orders: ir.Table,
    order_lines: ir.Table,
    products: ir.Table,
    profiles: ir.Table,
    as_of: datetime,
    *,
    purchase_weight: float,
    cart_weight: float,
    view_weight: float,
    half_life_days: float | None,
) -> ir.Table:
    """One row per product signal before ``as_of``: profile_id, kind (purchase, cart_add,
    product_view), category, brand, price and its decayed weight."""
    shown = events.filter(
        (events.event_time < as_of)
        & events.type.isin(["product_view", "cart_add"])
        & events.product_id.notnull()
    )
    shown = event_profiles(shown, profiles)
    shown = shown.select(
        "profile_id",
        "product_id",
        at=shown.event_time,
        kind=shown.type,
        price=shown.price,
        event_category=shown.category,
    )
    lines = order_lines.filter(order_lines.is_product & ~order_lines.is_return)
    placed = placed_orders(orders)
    bought = customer_key(placed.filter(placed.ordered_at < as_of), profiles)
    bought = bought.join(lines, "order_id")
    bought = bought.select(
        "profile_id",
        "product_id",
        at=bought.ordered_at,
        kind=ibis.literal("purchase"),
        price=bought.unit_price,
        event_category=ibis.null("string"),
    )
    signals = shown.union(bought)
    catalogue = products.select(
        "product_id", _category=products.category, _brand=products.brand, _price=products.price
    )
    signals = signals.left_join(catalogue, "product_id")
    base = ibis.cases(
        (signals.kind == "purchase", float(purchase_weight)),
        (signals.kind == "cart_add", float(cart_weight)),
        else_=float(view_weight),
    )
    if half_life_days is None:
        weight = base
    else:
        # to the second on every engine (``epoch_seconds`` keeps microseconds on DuckDB only)
        age_days = (
            ibis.literal(as_of.timestamp()) - utc_seconds(signals.at).cast("float64")
        ) / SECONDS_PER_DAY
        weight = base * (age_days * (-math.log(2) / half_life_days)).exp()
    return signals.select(
        "profile_id",
        "kind",
        category=ibis.coalesce(signals._category, signals.event_category),
        brand=signals._brand,
        price=ibis.coalesce(signals.price, signals._price),
        weight=weight,
    )


def taste_scores(
    events: ir.Table,
    orders: ir.Table,
    order_lines: ir.Table,
    products: ir.Table,
    profiles: ir.Table,
    as_of: datetime,
    *,
    purchase_weight: float = 5.0,
    cart_weight: float = 3.0,
    view_weight: float = 1.0,
    half_life_days: float | None = 30.0,
) -> ir.Table:
    """The long form of the taste: one row per profile, dimension and value it showed interest in.

    Columns: ``profile_id``; ``dimension`` (``category`` or ``brand``); ``value`` (the category or
    brand); ``score`` (its share of the profile's decayed votes in that dimension, 0..1);
    ``weight`` (the decayed votes); ``purchases``, ``cart_adds``, ``product_views`` (plain counts
    of bought lines and events); ``rank`` (1 = favourite; ties go to more purchases, then to the
    alphabetically first value, so ranks are deterministic).
    """
    signals = _signals(
        events,
        orders,
        order_lines,
        products,
        profiles,
        as_of,
        purchase_weight=purchase_weight,
        cart_weight=cart_weight,
        view_weight=view_weight,
        half_life_days=half_life_days,
    )
    return _scores(signals)


def _kind_counts(signals: ir.Table) -> dict[str, ir.IntegerValue]:
    """Plain counts of bought lines, cart additions and product views, as aggregations."""
    return {
        "purchases": (signals.kind == "purchase").sum().cast("int64"),
        "cart_adds": (signals.kind == "cart_add").sum().cast("int64"),
        "product_views": (signals.kind == "product_view").sum().cast("int64"),
    }


def _scores(signals: ir.Table) -> ir.Table:
    """The long-form taste (see :func:`taste_scores`) from the decayed signals."""
    parts = []
    for dimension in DIMENSIONS:
        # a kind weighted 0 casts no vote (else a profile with only such signals divides by 0)
        votes = signals.filter(signals[dimension].notnull() & (signals.weight > 0))
        parts.append(
            votes.group_by(profile_id=votes.profile_id, value=votes[dimension]).aggregate(
                dimension=ibis.literal(dimension),
                weight=votes.weight.sum(),
                **_kind_counts(votes),
            )
        )
    long = parts[0].union(*parts[1:])
    per = ibis.window(group_by=["profile_id", "dimension"])
    rank = ibis.row_number().over(
        group_by=["profile_id", "dimension"],
        order_by=[ibis.desc("weight"), ibis.desc("purchases"), "value"],
    )
    return long.select(
        "profile_id",
        "dimension",
        "value",
        score=long.weight / long.weight.sum().over(per),
        weight=long.weight,
        purchases=long.purchases,
        cart_adds=long.cart_adds,
        product_views=long.product_views,
        rank=(rank + 1).cast("int64"),
    )


def _top(scores: ir.Table, dimension: str, top_k: int) -> ir.Table:
    """Per profile: ``top_<dimension>`` (array of {rank, <dimension>, score}, best first) and
    ``favourite_<dimension>``."""
    top = scores.filter((scores.dimension == dimension) & (scores["rank"] <= top_k))
    entry = ibis.struct({"rank": top["rank"], dimension: top.value, "score": top.score})
    plural = "categories" if dimension == "category" else f"{dimension}s"
    # sorting structs orders them by their first field, the rank; collect(order_by=...) would
    # read better but the Spark backend does not support it
    return top.group_by("profile_id").aggregate(
        **{
            f"top_{plural}": entry.collect().sort(),
            f"favourite_{dimension}": top.value.max(where=top["rank"] == 1),
        }
    )


def _prices(signals: ir.Table, prefix: str) -> ir.Table:
    price = signals.price
    return signals.group_by("profile_id").aggregate(
        **{
            f"{prefix}_price_min": price.min(),
            f"{prefix}_price_p10": price.quantile(0.1),
            f"{prefix}_price_avg": price.mean(),
            f"{prefix}_price_p90": price.quantile(0.9),
            f"{prefix}_price_max": price.max(),
        }
    )


def _interests(
    interests: ir.Table, profiles: ir.Table, as_of: datetime, top_k: int, part: tuple[int, int]
) -> ir.Table:
    seen = interests.filter(interests.observed_at.isnull() | (interests.observed_at < as_of))
    joined = seen.left_join(
        profiles.select("identifier", "profile_id"), seen.identifier == profiles.identifier
    )
    keyed = joined.select(
        profile_id=ibis.coalesce(joined.profile_id, joined.identifier),
        keyword=joined.keyword,
        topic=joined.topic,
        weight=joined.weight,
    )
    keyed = customers_in_part(keyed, *part)
    # the same keyword from several sources or identifiers of one profile counts once, at its
    # strongest
    keyed = keyed.group_by("profile_id", "keyword").aggregate(
        topic=keyed.topic.max(), weight=keyed.weight.max()
    )
    rank = ibis.row_number().over(
        group_by="profile_id", order_by=[ibis.desc(ibis.coalesce(keyed.weight, 0.0)), "keyword"]
    )
    ranked = keyed.mutate(rank=(rank + 1).cast("int64")).filter(ibis._["rank"] <= top_k)
    entry = ibis.struct(
        {"rank": ranked["rank"], "keyword": ranked.keyword, "topic": ranked.topic, "weight": ranked.weight}
    )
    return ranked.group_by("profile_id").aggregate(interests=entry.collect().sort())


def customer_taste(
    events: ir.Table,
    orders: ir.Table,
    order_lines: ir.Table,
    products: ir.Table,
    profiles: ir.Table,
    interests: ir.Table,
    as_of: datetime,
    *,
    top_k: int = 5,
    purchase_weight: float = 5.0,
    cart_weight: float = 3.0,
    view_weight: float = 1.0,
    half_life_days: float | None = 30.0,
    part: tuple[int, int] = (0, 1),
) -> ir.Table:
    """One row per profile (members, guests and anonymous visitors) with any product signal or
    imported interest before ``as_of`` - what a marketer's profile page and the API show.

    Columns:

    - ``profile_id``
    - ``top_categories``: up to ``top_k`` ``{rank, category, score}``, best first (``score`` as
      in :func:`taste_scores`); ``favourite_category``: the first of them
    - ``top_brands``: up to ``top_k`` ``{rank, brand, score}``; ``favourite_brand``
    - ``purchases``, ``cart_adds``, ``product_views``: counts of bought lines and events
    - ``bought_price_min``, ``bought_price_p10``, ``bought_price_avg``, ``bought_price_p90``,
      ``bought_price_max``: unit prices of the bought lines (null if nothing bought)
    - ``viewed_price_min`` ... ``viewed_price_max``: likewise for the viewed and cart-added
      products
    - ``interests``: up to ``top_k`` imported ``{rank, keyword, topic, weight}``, strongest first
      (empty if none)

    Empty lists, not nulls, for profiles without categories, brands or interests.

    ``part`` = (i, n): only the profiles in part i of n (:func:`customers_in_part`), so that a
    shop too big for one query runs part by part.
    """
    signals = _signals(
        events,
        orders,
        order_lines,
        products,
        profiles,
        as_of,
        purchase_weight=purchase_weight,
        cart_weight=cart_weight,
        view_weight=view_weight,
        half_life_days=half_life_days,
    )
    signals = customers_in_part(signals, *part)
    scores = _scores(signals)
    counts = signals.group_by("profile_id").aggregate(**_kind_counts(signals))
    liked = _interests(interests, profiles, as_of, top_k, part)
    universe = counts.select("profile_id").union(liked.select("profile_id"), distinct=True)
    parts = [
        counts,
        _top(scores, "category", top_k),
        _top(scores, "brand", top_k),
        _prices(signals.filter(signals.kind == "purchase"), "bought"),
        _prices(signals.filter(signals.kind != "purchase"), "viewed"),
        liked,
    ]
    out = universe
    for part in parts:
        out = out.left_join(part, "profile_id").drop("profile_id_right")
    empty = {
        "top_categories": "array<struct<rank: int64, category: string, score: float64>>",
        "top_brands": "array<struct<rank: int64, brand: string, score: float64>>",
        "interests": "array<struct<rank: int64, keyword: string, topic: string, weight: float64>>",
    }
    return out.mutate(
        **{c: ibis.coalesce(out[c], 0) for c in ("purchases", "cart_adds", "product_views")},
        **{c: ibis.coalesce(out[c], ibis.literal([], type=t)) for c, t in empty.items()},
    ).order_by("profile_id")


def catalogue_price_thirds(products: ir.Table) -> ir.Table:
    """One row: ``low`` and ``high``, the catalogue's price terciles (products on sale, priced)."""
    priced = products.filter((products.price > 0) & products.is_product)
    return priced.aggregate(low=priced.price.quantile(1 / 3), high=priced.price.quantile(2 / 3))


def price_band(price: ir.NumericValue, low: ir.NumericValue, high: ir.NumericValue) -> ir.StringValue:
    """A price band: ``low`` below the catalogue's lower third (``catalogue_price_thirds``),
    ``high`` above its upper third, else ``mid``; null without a price."""
    return ibis.cases(
        (price.isnull() | low.isnull(), ibis.null("string")),
        (price < low, "low"),
        (price > high, "high"),
        else_="mid",
    )
