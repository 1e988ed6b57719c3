"""What the recommenders learn from, as Ibis expressions: one row per (profile, product) signal,
and the catalogue with what the recommenders need of it.

A bought order line weighs 1; with ``view_weight`` / ``cart_weight`` > 0, product views and cart
adds of the events count too ("customers who viewed this also viewed"). Returns and non-product
lines are left out; the region is the order's (or the event's).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from shopmind.features._rfm import customer_key, event_profiles, placed_orders


def interactions(
    events: ir.Table,
    orders: ir.Table,
    order_lines: ir.Table,
    profiles: ir.Table,
    *,
    before: datetime | None = None,
    view_weight: float = 0.0,
    cart_weight: float = 0.0,
) -> ir.Table:
    """Columns user (profile id), item (product id), weight, time, region, kind."""
    placed = placed_orders(orders)
    if before is not None:
        placed = placed.filter(placed.ordered_at < before)
    bought = customer_key(placed, profiles).join(
        order_lines.filter(order_lines.is_product & ~order_lines.is_return), "order_id"
    )
    rows = bought.select(
        user=bought.profile_id,
        item=bought.product_id,
        weight=ibis.literal(1.0),
        time=bought.ordered_at,
        region=bought.region,
        kind=ibis.literal("purchase"),
    )
    weights = {"product_view": view_weight, "cart_add": cart_weight}
    kinds = [kind for kind, w in weights.items() if w > 0]
    if kinds:
        shown = events.filter(events.type.isin(kinds) & events.product_id.notnull())
        if before is not None:
            shown = shown.filter(shown.event_time < before)
        shown = event_profiles(shown, profiles)
        weight = ibis.cases(*((shown.type == kind, float(weights[kind])) for kind in kinds), else_=0.0)
        rows = rows.union(
            shown.select(
                user=shown.profile_id,
                item=shown.product_id,
                weight=weight,
                time=shown.event_time,
                region=shown.region,
                kind=shown.type,
            )
        )
    return rows


def recommender_catalogue(products: ir.Table, order_lines: ir.Table) -> ir.Table:
    """One row per product: item, name, description, category, brand, price, colour, in_stock,
    is_product. Products sold but missing from the catalogue (shops that never sent one) get the
    most frequent description of their order lines as name (ties: the first in text order) and
    their median unit price."""
    listed = products.select(
        item=products.product_id,
        name=products.name,
        description=products.description,
        category=products.category,
        brand=products.brand,
        price=products.price,
        colour=products.colour,
        in_stock=products.stock.isnull() | (products.stock > 0),
        is_product=products.is_product,
    )
    # the most frequent description (ties: the first in text order): ``mode()`` would do, but
    # Spark's Ibis compiler has no mode and DuckDB's picks among ties by chance
    described = order_lines.filter(order_lines.description.notnull())
    named = described.group_by(["product_id", "description"]).aggregate(_uses=described.count())
    named = named.mutate(
        _rank=ibis.row_number().over(
            group_by=named.product_id, order_by=[named._uses.desc(), named.description]
        )
    )
    names = named.filter(named._rank == 0).select("product_id", name="description")
    totals = order_lines.group_by("product_id").aggregate(
        price=order_lines.unit_price.median(),
        is_product=order_lines.is_product.any(),
    )
    sold = totals.left_join(names, totals.product_id == names.product_id).select(
        totals.product_id, names.name, totals.price, totals.is_product
    )
    unlisted = sold.anti_join(products, sold.product_id == products.product_id)
    extra = unlisted.select(
        item=unlisted.product_id.cast("string"),
        name=unlisted.name,
        description=ibis.null("string"),
        category=ibis.null("string"),
        brand=ibis.null("string"),
        price=unlisted.price.cast("float64"),
        colour=ibis.null("string"),
        in_stock=ibis.literal(True),
        is_product=unlisted.is_product.cast("boolean"),
    )
    return listed.mutate(item=listed.item.cast("string"), is_product=listed.is_product.cast("boolean")).union(
        extra
    )
