"""The catalogue as it sells: products by revenue (searchable, a page at a time) and one product's
facts. Read from the orders and the catalogue, not from the events."""

from __future__ import annotations

from typing import Any

from shopmind.store import Store

_COLUMNS = ("product_id", "name", "category", "price", "orders", "units", "revenue")


def products(
    store: Store, *, search: str = "", offset: int = 0, limit: int = 50
) -> tuple[int, list[dict[str, Any]]]:
    """Products by revenue (those never sold last), filtered by ``search`` in the id, name or
    category; how many match, and one page of them."""
    pattern = f"%{search.strip()}%"
    rows = store.sql(
        """WITH sold AS (
            SELECT product_id, count(DISTINCT order_id) AS orders, sum(quantity) AS units,
                   sum(quantity * unit_price) AS revenue
            FROM order_lines
            WHERE is_product AND NOT is_return
              AND order_id IN (SELECT order_id FROM orders WHERE verified) GROUP BY 1
        ), catalogue AS (
            SELECT coalesce(p.product_id, s.product_id) AS product_id, p.name, p.category, p.price,
                   coalesce(s.orders, 0) AS orders, coalesce(s.units, 0) AS units,
                   coalesce(s.revenue, 0) AS revenue
            FROM products p FULL JOIN sold s USING (product_id)
        )
        SELECT *, count(*) OVER () FROM catalogue
        WHERE product_id ILIKE ? OR name ILIKE ? OR category ILIKE ?
        ORDER BY revenue DESC, product_id LIMIT ? OFFSET ?""",
        [pattern, pattern, pattern, limit, offset],
    )
    total = int(rows[0][-1]) if rows else 0
    return total, [dict(zip(_COLUMNS, row[:-1], strict=True)) for row in rows]


def product(store: Store, product_id: str) -> dict[str, Any] | None:
    """One product's catalogue facts and (verified) sales; None when neither the catalogue nor an
    order has it."""
    rows = store.sql(
        """WITH sold AS (
            SELECT l.* FROM order_lines l JOIN orders o USING (order_id)
            WHERE l.product_id = ? AND NOT l.is_return AND o.verified
        )
        SELECT ?, p.name, p.category, p.price,
               (SELECT count(DISTINCT order_id) FROM sold),
               (SELECT coalesce(sum(quantity), 0) FROM sold),
               (SELECT coalesce(sum(quantity * unit_price), 0) FROM sold)
        FROM (SELECT 1) LEFT JOIN products p ON p.product_id = ?""",
        [product_id] * 3,
    )
    found = dict(zip(_COLUMNS, rows[0], strict=True))
    if found["name"] is None and not found["orders"]:
        return None
    return found


def regions(store: Store) -> list[str]:
    """The regions orders came from, most orders first (for the recommendation explorer)."""
    return [
        r
        for (r,) in store.sql(
            "SELECT region FROM orders WHERE region IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1"
        )
    ]
